using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Sharpvisor.Vmm.Serial;

/// <summary>
/// Waits for a full non-blocking output to take bytes again. Whoever shares the VMM's stdout descriptor (a shell's
/// terminal, an event-loop parent's pipe) may have set O_NONBLOCK on it; a write then fails with EAGAIN while the reader
/// lags, and .NET's Console (which the CLI bypasses to read raw bytes) and QEMU's chardevs both wait and retry.
/// </summary>
internal static unsafe partial class WritableWait
{
    public const int Eagain = 11;
    /// <summary>A reader that takes nothing for this long is gone, not slow: output is dropped until it reads again.</summary>
    public static readonly TimeSpan GiveUpAfter = TimeSpan.FromSeconds(10);
    private const short PollOut = 0x4;
    private const int PollSliceMs = 100;

    /// <summary>
    /// True once <paramref name="output"/> may take a byte (or a 100 ms poll slice passed), false at once when the reader
    /// has taken nothing since <paramref name="stalledSince"/> (a Stopwatch timestamp the writer keeps, 0 after a write
    /// that succeeded) for <see cref="GiveUpAfter"/>.
    /// </summary>
    public static bool Wait(Stream output, ref long stalledSince)
    {
        if (stalledSince == 0) stalledSince = Stopwatch.GetTimestamp();
        else if (Stopwatch.GetElapsedTime(stalledSince) > GiveUpAfter) return false;
        if (output is FileStream { SafeFileHandle: { IsInvalid: false } handle })
        {
            var descriptor = new PollDescriptor { Fd = (int)handle.DangerousGetHandle(), Events = PollOut };
            Poll(&descriptor, 1, PollSliceMs);
        }
        else Thread.Sleep(1);
        return true;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct PollDescriptor
    {
        public int Fd;
        public short Events;
        public short ReturnedEvents;
    }

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    private static partial int Poll(PollDescriptor* descriptors, nuint count, int timeoutMs);
}
