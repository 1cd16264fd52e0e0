using System.Globalization;

namespace Sharpvisor.Host.Supervision;

/// <summary>
/// Tells whether a pid is still the process the daemon started: pids are reused, so a pid is paired with its start
/// time in clock ticks since boot (field 22 of /proc/PID/stat), which no later process with that pid shares.
/// </summary>
public static class ProcessIdentity
{
    /// <summary>The start time of <paramref name="pid"/>, or null when no such process exists (or it is a zombie).</summary>
    public static ulong? StartTicks(int pid) =>
        StatFields(pid) is { Length: >= 20 } fields && fields[0] != "Z" // fields[0] is field 3 (state); a zombie has ended
            ? ulong.Parse(fields[19], CultureInfo.InvariantCulture) : null;

    /// <summary>
    /// The fields of /proc/PID/stat from field 3 (the state) on, or null when the process is gone. The command name
    /// (field 2) is in parentheses and may hold spaces: fields are counted after its last ')'.
    /// </summary>
    private static string[]? StatFields(int pid)
    {
        string stat;
        try { stat = File.ReadAllText($"/proc/{pid}/stat"); }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException) { return null; }
        int close = stat.LastIndexOf(')');
        return close < 0 ? null : stat[(close + 2)..].Split(' ');
    }

    public static bool IsAlive(int pid, ulong startTicks) => StartTicks(pid) == startTicks;

    /// <summary>Resident memory (VmRSS) and CPU time (user + system) of a live process; null when it is gone.</summary>
    public static (ulong ResidentBytes, TimeSpan CpuTime)? Usage(int pid)
    {
        try
        {
            ulong rss = 0;
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
                if (line.StartsWith("VmRSS:", StringComparison.Ordinal))
                    rss = ulong.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1], CultureInfo.InvariantCulture) * 1024;
            if (StatFields(pid) is not { Length: >= 13 } fields) return null;
            ulong ticks = ulong.Parse(fields[11], CultureInfo.InvariantCulture) + ulong.Parse(fields[12], CultureInfo.InvariantCulture);
            return (rss, TimeSpan.FromSeconds(ticks / (double)ClockTicksPerSecond));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException or IndexOutOfRangeException)
        {
            return null;
        }
    }

    // sysconf(_SC_CLK_TCK) is 100 on every Linux architecture .NET runs on (USER_HZ is fixed by the kernel's ABI).
    private const int ClockTicksPerSecond = 100;
}
