using System.Runtime.InteropServices;

namespace Sharpvisor.Machine.Devices.Virtio;

/// <summary>The host system calls the virtio backends need and .NET does not wrap: getrandom, fdatasync, fallocate.</summary>
internal static partial class HostCalls
{
    public const int FallocateKeepSize = 0x01, FallocatePunchHole = 0x02;
    public const int ErrnoInterrupted = 4, ErrnoNotSupported = 95;

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial nint getrandom(byte* buffer, nuint length, uint flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fdatasync(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fallocate(int fd, int mode, long offset, long length);

    /// <summary>Fills <paramref name="buffer"/> from the kernel's random pool (blocking only until it is initialised).</summary>
    public static unsafe void FillRandom(Span<byte> buffer)
    {
        fixed (byte* start = buffer)
        {
            int done = 0;
            while (done < buffer.Length)
            {
                nint got = getrandom(start + done, (nuint)(buffer.Length - done), 0);
                if (got < 0)
                {
                    if (Marshal.GetLastPInvokeError() == ErrnoInterrupted) continue;
                    throw new IOException($"getrandom failed: {Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError())}");
                }
                done += (int)got;
            }
        }
    }
}
