using System.Runtime.InteropServices;

namespace Sharpvisor.Oracle.Native;

/// <summary>The few libc calls the runner needs: mappings for code, control block and window; signal set-up in the worker.</summary>
internal static unsafe partial class LinuxNative
{
    public const int ProtNone = 0, ProtRead = 1, ProtWrite = 2, ProtExec = 4;
    public const int MapShared = 0x01, MapPrivate = 0x02, MapFixed = 0x10, MapAnonymous = 0x20, MapNoReserve = 0x4000;
    public const int MapFixedNoReplace = 0x100000;
    public const int SaSiginfo = 0x4, SaOnStack = 0x08000000, SaResetHand = unchecked((int)0x80000000);
    public const int RlimitCore = 4;
    public static readonly nint MapFailed = -1;

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint mmap(nint address, nuint length, int protection, int flags, int fd, long offset);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int munmap(nint address, nuint length);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int mprotect(nint address, nuint length, int protection);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int memfd_create(string name, uint flags);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int ftruncate(int fd, long length);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int close(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int sigaction(int signal, SigAction* action, SigAction* oldAction);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int sigaltstack(StackT* stack, StackT* oldStack);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int setrlimit(int resource, ulong* limits);

    /// <summary>glibc's struct sigaction on x86-64 (152 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct SigAction
    {
        public nint Handler;
        public fixed ulong Mask[16];
        public int Flags;
        public int Padding;
        public nint Restorer;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct StackT
    {
        public nint Pointer;
        public int Flags;
        public int Padding;
        public nuint Size;
    }

    public static Exception Failure(string what) =>
        new InvalidOperationException($"{what} failed: errno {Marshal.GetLastPInvokeError()} ({Marshal.GetLastPInvokeErrorMessage()})");
}
