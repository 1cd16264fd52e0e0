using System.CommandLine;
using System.Runtime.InteropServices;
using Sharpvisor.Api.Firecracker;
using Sharpvisor.Vmm.Lifecycle;

namespace Sharpvisor.Cli.Commands;

/// <summary>`sharpvisor firecracker`: one microVM driven through Firecracker's API on a unix socket.</summary>
internal static class FirecrackerCommand
{
    public static Command Create()
    {
        var apiSock = new Option<string?>("--api-sock") { Description = "The unix socket the Firecracker-compatible API listens on (it must not exist yet)." };
        var id = new Option<string>("--id") { Description = "The microVM's id (GET / and the log show it).", DefaultValueFactory = _ => "anonymous-instance" };
        var configFile = new Option<string?>("--config-file") { Description = "Boot at once from this JSON (the shape GET /vm/config answers)." };
        var noApi = new Option<bool>("--no-api") { Description = "No API socket (needs --config-file)." };
        var level = new Option<string?>("--level") { Description = "Log level: Error, Warning, Info, Debug, Trace or Off (default Info)." };
        var logPath = new Option<string?>("--log-path") { Description = "Append the log to this file instead of stderr." };
        var bootTimer = new Option<bool>("--boot-timer") { Description = "Log the time from InstanceStart to the default guest's ready line." };
        var command = new Command("firecracker", """
            Run one microVM driven through Firecracker's HTTP API (PUT /boot-source, /drives/ID, /actions InstanceStart, ...)
            on a unix socket. The guest's serial console is this process's stdout and stdin; the process ends when the guest
            powers off or reboots. Exit codes as for `run`.
            """) { apiSock, id, configFile, noApi, level, logPath, bootTimer };
        command.SetAction(parse =>
        {
            var options = new FirecrackerOptions
            {
                ApiSocket = parse.GetValue(apiSock), Id = parse.GetValue(id)!, ConfigFile = parse.GetValue(configFile), NoApi = parse.GetValue(noApi),
                Level = parse.GetValue(level), LogPath = parse.GetValue(logPath), BootTimer = parse.GetValue(bootTimer),
            };
            // Raw descriptors, as `run` uses them: the console is the guest's, byte for byte.
            var stdin = InheritedDescriptor.IsInherited(0)
                ? new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(0, ownsHandle: false), FileAccess.Read, 1)
                : null;
            var stdout = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(1, ownsHandle: false), FileAccess.Write, 1);
            using var stop = new CancellationTokenSource();
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
            var exit = FirecrackerProcess.Run(options, stdin, stdout, stop.Token);
            Console.Error.WriteLine($"sharpvisor: {exit.Message.TrimEnd()}");
            return exit.How switch
            {
                FirecrackerExit.Kind.BadArguments => ExitCodes.BadArguments,
                FirecrackerExit.Kind.VmmError => ExitCodes.VmmError,
                FirecrackerExit.Kind.Stopped => ExitCodes.Stopped,
                _ => exit.Outcome switch
                {
                    VmOutcome.PoweredOff or VmOutcome.ResetRequested or VmOutcome.Migrated => ExitCodes.GuestPoweredOff,
                    VmOutcome.GuestCrashed => ExitCodes.GuestCrashed,
                    VmOutcome.GuestReportedFailure => ExitCodes.GuestReportedFailure,
                    _ => ExitCodes.VmmError,
                },
            };
        });
        return command;
    }
}
