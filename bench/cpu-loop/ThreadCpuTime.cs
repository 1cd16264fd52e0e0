using System.Runtime.InteropServices;

namespace Sharpvisor.Bench.CpuLoop;

/// <summary>The calling thread's CPU time (clock_gettime(CLOCK_THREAD_CPUTIME_ID)): time the thread actually ran.</summary>
internal static partial class ThreadCpuTime
{
    private const int ClockThreadCpuTimeId = 3;

    [StructLayout(LayoutKind.Sequential)]
    private struct TimeSpec
    {
        public long Seconds, Nanoseconds;
    }

    [LibraryImport("libc", EntryPoint = "clock_gettime")]
    private static partial int ClockGetTime(int clock, out TimeSpec time);

    public static double Seconds()
    {
        if (ClockGetTime(ClockThreadCpuTimeId, out var t) != 0) throw new InvalidOperationException("clock_gettime failed");
        return t.Seconds + t.Nanoseconds / 1e9;
    }
}
