using System.Diagnostics;
using Sharpvisor.Machine.Native;

namespace Sharpvisor.Vmm.Serial;

/// <summary>
/// Waits for a full non-blocking output to take bytes again. Whoever shares the VMM's stdout descriptor (a shell's
/// terminal, an event-loop parent's pipe) may have set O_NONBLOCK on it; a write then fails with EAGAIN while the reader
/// lags, and .NET's Console (which the CLI bypasses to read raw bytes) and QEMU's chardevs both wait and retry.
/// </summary>
internal static class WritableWait
{
    public const int Eagain = Libc.ErrnoAgain;
    /// <summary>A reader that takes nothing for this long is gone, not slow: output is dropped until it reads again.</summary>
    public static readonly TimeSpan GiveUpAfter = TimeSpan.FromSeconds(10);
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
            var descriptor = new Libc.PollDescriptor { Fd = (int)handle.DangerousGetHandle(), Events = Libc.PollOut };
            unsafe { Libc.poll(&descriptor, 1, PollSliceMs); } // Safe: one pollfd on this stack frame, count 1
        }
        else Thread.Sleep(1);
        return true;
    }

}
