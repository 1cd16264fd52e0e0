using System.Runtime.InteropServices;

namespace Sharpvisor.Machine.Native;

/// <summary>File descriptors: devices (/dev/kvm, /dev/net/tun), disks, eventfds, sockets.</summary>
public static partial class Libc
{
    public const int ORdOnly = 0, ORdWr = 0x2, ONonBlock = 0x800, ODirectory = 0x10000, OCloExec = 0x80000;
    public const int EfdNonBlock = 0x800, EfdCloExec = 0x80000;
    public const int FallocateKeepSize = 0x01, FallocatePunchHole = 0x02;
    public const short PollIn = 0x1, PollOut = 0x4, PollErr = 0x8, PollHup = 0x10, PollNval = 0x20;
    public const int AfInet = 2, SockDgram = 2;

    /// <summary>struct pollfd.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct PollDescriptor
    {
        public int Fd;
        public short Events;
        public short ReturnedEvents;
    }

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    public const int FcntlGetDescriptorFlags = 1, DescriptorCloseOnExec = 1; // F_GETFD, FD_CLOEXEC

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fcntl(int fd, int command);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial nint read(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial nint write(int fd, byte* buffer, nuint count);

    /// <summary>The third argument is an integer or a pointer, as the request defines; see the pointer overload.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static partial int ioctl(int fd, nuint request, nint argument);

    public static unsafe int ioctl(int fd, nuint request, void* argument) => ioctl(fd, request, (nint)argument);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fsync(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fdatasync(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int fallocate(int fd, int mode, long offset, long length);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int ftruncate(int fd, long length);

    [LibraryImport("libc", SetLastError = true)]
    private static unsafe partial int fstat(int fd, byte* stat);

    /// <summary>Bytes the file takes on disk (st_blocks * 512; x86-64's struct stat: 144 bytes, st_blocks at 64).</summary>
    public static unsafe long AllocatedBytes(int fd)
    {
        byte* stat = stackalloc byte[144];
        if (fstat(fd, stat) != 0) throw new IOException($"fstat: {LastErrorText()}");
        return *(long*)(stat + 64) * 512;
    }

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int poll(PollDescriptor* descriptors, nuint count, int timeoutMs);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int eventfd(uint initialValue, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int socket(int domain, int type, int protocol);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setns(int fd, int namespaceType);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial nint getrandom(byte* buffer, nuint length, uint flags);

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
                    if (LastError == ErrnoInterrupted) continue;
                    throw new IOException($"getrandom failed: {LastErrorText()}");
                }
                done += (int)got;
            }
        }
    }
}
