using System.Runtime.InteropServices;

namespace Sharpvisor.Engines.Kvm.Native;

/// <summary>The libc calls the KVM engine makes.</summary>
internal static unsafe partial class KvmSyscalls
{
    public const int ORdWr = 2, OCloexec = 0x80000;
    public const int Eintr = 4, Eagain = 11, E2big = 7;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int ioctl(int fd, nuint request, nint arg);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int ioctl(int fd, nuint request, void* arg);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int getpid();

    [LibraryImport("libc", SetLastError = true)]
    public static partial int gettid();

    [LibraryImport("libc", SetLastError = true)]
    public static partial int tgkill(int tgid, int tid, int sig);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int sigaction(int signum, void* act, void* oldact);

    [LibraryImport("libc")]
    public static partial int __libc_current_sigrtmin();
}
