namespace Sharpvisor.Host.Confinement;

/// <summary>
/// How a VMM process ended. <see cref="ExitCode"/> or <see cref="Signal"/> is set when the daemon started the process
/// itself (it reaps its own children); for a process adopted from an earlier daemon both are null and
/// <see cref="StatusKnown"/> is false, but an OOM kill is still known from the cgroup's counter.
/// </summary>
public sealed record VmmExit(int? ExitCode, int? Signal, bool OomKilled, bool StatusKnown, string Reason)
{
    /// <summary>Builds the exit and its one-line reason from what waitid and the cgroup said.</summary>
    public static VmmExit From(int? exitCode, int? signal, bool statusKnown, long oomKills, long memoryLimitBytes, string? unknownWhy = null)
    {
        bool oom = oomKills > 0 && (signal == 9 || !statusKnown);
        string reason =
            oom ? $"killed by the kernel's OOM killer (memory limit {memoryLimitBytes / (1024 * 1024)} MiB)" :
            !statusKnown ? $"exited; its exit status is unknowable ({unknownWhy ?? "not this daemon's child"})" :
            signal is { } s ? $"killed by signal {s} ({SignalName(s)})" :
            $"exited with code {exitCode}";
        return new VmmExit(exitCode, signal, oom, statusKnown, reason);
    }

    private static string SignalName(int signal) => signal switch
    {
        1 => "SIGHUP", 2 => "SIGINT", 3 => "SIGQUIT", 4 => "SIGILL", 6 => "SIGABRT", 7 => "SIGBUS", 8 => "SIGFPE",
        9 => "SIGKILL", 11 => "SIGSEGV", 13 => "SIGPIPE", 15 => "SIGTERM", _ => "signal " + signal,
    };
}
