using System.Runtime.InteropServices;

namespace Sharpvisor.Machine.Native;

/// <summary>The process and its threads: ids, signals (vCPU kicks, the oracle's fault handler), limits, clocks.</summary>
public static partial class Libc
{
    public const int SaSiginfo = 0x4, SaOnStack = 0x08000000, SaRestart = 0x10000000, SaResetHand = unchecked((int)0x80000000);
    public const int RlimitCore = 4;
    public const int ClockThreadCpuTime = 3;

    /// <summary>glibc's struct sigaction on x86-64 (152 bytes): handler, sa_mask (1024 bits), sa_flags, sa_restorer.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct SigAction
    {
        public nint Handler;
        public unsafe fixed ulong Mask[16];
        public int Flags;
        public int Padding;
        public nint Restorer;
    }

    /// <summary>stack_t, for sigaltstack.</summary>
    [StructLayout(LayoutKind.Sequential)]
    public struct StackT
    {
        public nint Pointer;
        public int Flags;
        public int Padding;
        public nuint Size;
    }

    [StructLayout(LayoutKind.Sequential)]
    public struct TimeSpec
    {
        public long Seconds, Nanoseconds;
    }

    [LibraryImport("libc", SetLastError = true)]
    public static partial int getpid();

    [LibraryImport("libc", SetLastError = true)]
    public static partial int gettid();

    [LibraryImport("libc", SetLastError = true)]
    public static partial int kill(int pid, int signal);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int tgkill(int tgid, int tid, int signal);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int sigaction(int signal, SigAction* action, SigAction* oldAction);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int sigaltstack(StackT* stack, StackT* oldStack);

    /// <summary>The first real-time signal glibc leaves to applications (the runtime takes some itself).</summary>
    [LibraryImport("libc")]
    public static partial int __libc_current_sigrtmin();

    /// <summary><paramref name="limits"/>: struct rlimit, the soft then the hard limit.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int setrlimit(int resource, ulong* limits);

    /// <summary><paramref name="usage"/>: struct rusage (144 bytes on x86-64).</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int getrusage(int who, byte* usage);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int clock_gettime(int clock, out TimeSpec time);

    /// <summary>The calling thread's CPU time (CLOCK_THREAD_CPUTIME_ID): time the thread actually ran.</summary>
    public static long ThreadCpuTimeNanoseconds()
    {
        if (clock_gettime(ClockThreadCpuTime, out var t) != 0) throw new InvalidOperationException($"clock_gettime failed: {LastErrorText()}");
        return t.Seconds * 1_000_000_000 + t.Nanoseconds;
    }
}
