namespace Sharpvisor.Cli;

/// <summary>The process exit codes, documented in the README and in `sharpvisor run --help`.</summary>
internal static class ExitCodes
{
    /// <summary>The guest powered off (or, with --no-reboot, asked for a reset).</summary>
    public const int GuestPoweredOff = 0;
    /// <summary>The guest crashed: a triple fault, or code the engine could not run.</summary>
    public const int GuestCrashed = 1;
    /// <summary>The command line was wrong.</summary>
    public const int BadArguments = 2;
    /// <summary>The VMM itself failed: a host resource, a missing tool, a broken image.</summary>
    public const int VmmError = 3;
    /// <summary>No engine on this host can run the guest (e.g. Linux needs VT-x/AMD-V for KVM, or the emulator).</summary>
    public const int NoEngine = 4;
    /// <summary>A test guest reported failure through the debug-exit port.</summary>
    public const int GuestReportedFailure = 5;
    /// <summary>The user quit the console (Ctrl-A x) or sent SIGINT/SIGTERM.</summary>
    public const int Stopped = 6;
    /// <summary>`vm`, `host`, `events`: the daemon's socket or listener did not answer.</summary>
    public const int DaemonUnreachable = 7;
    /// <summary>`vm`, `host`, `events`: the daemon refused the request (4xx: bad input, no such VM, a conflict with its state or capacity).</summary>
    public const int Refused = 8;
    /// <summary>`vm`, `host`, `events`: the daemon accepted the request but it failed (5xx, or a failed operation).</summary>
    public const int OperationFailed = 9;
}
