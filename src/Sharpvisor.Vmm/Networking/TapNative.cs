using System.Runtime.InteropServices;

namespace Sharpvisor.Vmm.Networking;

/// <summary>The Linux calls a tap interface needs and .NET does not wrap: open, ioctl, read, write, poll, eventfd.</summary>
internal static unsafe partial class TapNative
{
    public const int ORdWr = 0x2, ONonBlock = 0x800, OCloExec = 0x80000;
    public const int EfdNonBlock = 0x800, EfdCloExec = 0x80000;
    public const short PollIn = 0x1, PollErr = 0x8, PollHup = 0x10, PollNval = 0x20;
    public const int ErrnoInterrupted = 4, ErrnoAgain = 11;
    public const int AfInet = 2, SockDgram = 2;

    /// <summary>_IOW('T', 202, int): attach the file to a tun/tap interface, creating it if it does not exist.</summary>
    public const ulong TunSetInterface = 0x400454CA;
    public const ulong SiocGetInterfaceFlags = 0x8913, SiocSetInterfaceFlags = 0x8914;
    public const short IffTap = 0x0002, IffNoPacketInfo = 0x1000;
    public const short IffUp = 0x1;
    /// <summary>sizeof(struct ifreq): the name (16 bytes, NUL-terminated) and a union whose first member is the flags.</summary>
    public const int InterfaceRequestSize = 40, InterfaceNameSize = 16;

    [StructLayout(LayoutKind.Sequential)]
    public struct PollDescriptor
    {
        public int Fd;
        public short Events;
        public short ReturnedEvents;
    }

    [LibraryImport("libc", EntryPoint = "open", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    public static partial int Close(int fd);

    [LibraryImport("libc", EntryPoint = "ioctl", SetLastError = true)]
    public static partial int Ioctl(int fd, ulong request, byte* argument);

    [LibraryImport("libc", EntryPoint = "read", SetLastError = true)]
    public static partial nint Read(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "write", SetLastError = true)]
    public static partial nint Write(int fd, byte* buffer, nuint count);

    [LibraryImport("libc", EntryPoint = "poll", SetLastError = true)]
    public static partial int Poll(PollDescriptor* descriptors, nuint count, int timeoutMs);

    [LibraryImport("libc", EntryPoint = "eventfd", SetLastError = true)]
    public static partial int EventFd(uint initialValue, int flags);

    [LibraryImport("libc", EntryPoint = "socket", SetLastError = true)]
    public static partial int Socket(int domain, int type, int protocol);

    public static int LastError => Marshal.GetLastPInvokeError();
    public static string Describe(int errno) => Marshal.GetPInvokeErrorMessage(errno);
}
