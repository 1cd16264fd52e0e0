using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using Sharpvisor.Api.Rest;
using Sharpvisor.Host;
using Sharpvisor.Host.Admission;
using Sharpvisor.Host.Confinement;
using Sharpvisor.Host.Supervision;
using Sharpvisor.Vmm.Configuration;

namespace Sharpvisor.Cli.Commands;

/// <summary>`sharpvisor daemon`: the host daemon that keeps and runs this host's VMs behind the REST API.</summary>
internal static class DaemonCommand
{
    public const string DefaultSocket = "/run/sharpvisor/sharpvisor.sock";
    public const string DefaultStateDirectory = "/var/lib/sharpvisor";

    public static Command Create()
    {
        var stateDir = new Option<string>("--state-dir") { Description = "Where the daemon keeps its store (SQLite), credentials and VM folders.", DefaultValueFactory = _ => DefaultStateDirectory };
        var socket = new Option<string>("--socket") { Description = "The API's Unix socket (mode 0660).", DefaultValueFactory = _ => DefaultSocket };
        var listen = new Option<string?>("--listen") { Description = "Also serve the API over TCP with TLS and a bearer token on ADDR:PORT (a self-signed certificate and the token are made at first start)." };
        var hostMemory = new Option<string?>("--host-memory") { Description = "The memory this host offers VMs, e.g. 4G (default: all of the machine's)." };
        var hostCores = new Option<int?>("--host-cores") { Description = "The cores this host offers VMs (default: the machine's)." };
        var reserved = new Option<string>("--reserved-memory") { Description = "Memory kept for the host itself.", DefaultValueFactory = _ => "512M" };
        var cpuRatio = new Option<double>("--cpu-ratio") { Description = "vCPUs allocated per core, at most.", DefaultValueFactory = _ => 4.0 };
        var memoryRatio = new Option<double>("--memory-ratio") { Description = "Guest memory allocated per byte of (memory - reserved), at most.", DefaultValueFactory = _ => 1.5 };
        var diskRatio = new Option<double>("--disk-ratio") { Description = "Disk allocated per byte of the state directory's file system, at most.", DefaultValueFactory = _ => 1.0 };
        var diskRoots = new Option<string[]>("--disk-root") { Description = "A folder whose files VMs may be given as disks (besides STATE-DIR/disks). Repeatable.", Arity = ArgumentArity.ZeroOrMore };
        var confine = new Option<string>("--confine")
        {
            Description = "Confine each VMM (own cgroup with CPU, memory and pids limits; a jail with only its files; its own uid): on, off, or auto (on where the host allows: root, cgroups, util-linux).",
            DefaultValueFactory = _ => "auto",
        };
        confine.AcceptOnlyFromAmong("auto", "on", "off");
        var vmmOverhead = new Option<string>("--vmm-memory-overhead")
        {
            Description = "Memory a confined VMM may use beyond its guest's RAM (its cgroup's limit is the sum); past it the kernel's OOM killer ends that VM alone.",
            DefaultValueFactory = _ => $"{VmmMemoryBudget.OverheadBytes >> 20}M",
        };
        var stopTimeout = new Option<double>("--stop-timeout") { Description = "Seconds a stop without force waits for the guest to power off after the ACPI power button.", DefaultValueFactory = _ => 30 };
        var balloonTarget = new Option<double>("--balloon-target")
        {
            Description = "Percent of the host's memory above which VMs' balloons inflate (their reserve plus their VMMs' resident memory); below 90 % of it they deflate.",
            DefaultValueFactory = _ => 80,
        };
        var resourceInterval = new Option<double>("--resource-interval") { Description = "Seconds between two rounds of KSM tuning and balloon sizing.", DefaultValueFactory = _ => 10 };
        var command = new Command("daemon", """
            Run the host daemon: it keeps VM definitions in a SQLite store, runs each VM in a VMM process of its own,
            admits VMs against the host's capacity and overcommit ratios, and serves the REST API (/1.0/...,
            /openapi.json, /metrics). VMs outlive the daemon; a new daemon adopts them. `sharpvisor vm --help` drives it.
            """)
        {
            stateDir, socket, listen, hostMemory, hostCores, reserved, cpuRatio, memoryRatio, diskRatio, diskRoots, stopTimeout, confine, vmmOverhead, balloonTarget, resourceInterval,
        };
        command.SetAction(parse =>
        {
            HostDaemonOptions options;
            DaemonListenOptions listenOptions;
            long overheadBytes;
            try
            {
                var paths = new HostPaths(parse.GetValue(stateDir)!);
                paths.CreateLayout();
                var capacity = new HostCapacity
                {
                    Cores = parse.GetValue(hostCores) ?? Environment.ProcessorCount,
                    MemoryBytes = parse.GetValue(hostMemory) is { } m ? MemorySize.Parse(m) : HostMemory.TotalBytes(),
                    ReservedMemoryBytes = parse.GetValue(reserved)!.Trim() == "0" ? 0 : MemorySize.Parse(parse.GetValue(reserved)!), // 0: a host that keeps nothing back
                    DiskBytes = (ulong)new DriveInfo(paths.StateDirectory).TotalSize,
                    CpuRatio = parse.GetValue(cpuRatio), MemoryRatio = parse.GetValue(memoryRatio), DiskRatio = parse.GetValue(diskRatio),
                }.Validated();
                foreach (var root in parse.GetValue(diskRoots) ?? [])
                    if (!Directory.Exists(root)) throw new FormatException($"--disk-root {root} is not a folder");
                options = new HostDaemonOptions
                {
                    Paths = paths, Capacity = capacity, DiskRoots = parse.GetValue(diskRoots) ?? [], VmmCommand = OwnCommand(),
                    GracefulStopTimeout = TimeSpan.FromSeconds(parse.GetValue(stopTimeout)),
                    BalloonTargetFraction = parse.GetValue(balloonTarget) is > 0 and <= 100 and var percent ? percent / 100 : throw new FormatException("--balloon-target must be a percent in (0, 100]"),
                    ResourceInterval = parse.GetValue(resourceInterval) is >= 0.5 and <= 3600 and var seconds ? TimeSpan.FromSeconds(seconds) : throw new FormatException("--resource-interval must be 0.5 to 3600 seconds"),
                };
                overheadBytes = (long)MemorySize.Parse(parse.GetValue(vmmOverhead)!);
                listenOptions = new DaemonListenOptions(Path.GetFullPath(parse.GetValue(socket)!),
                    parse.GetValue(listen) is { } l ? ParseEndpoint(l) : null);
            }
            catch (Exception e) when (e is FormatException or IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"sharpvisor: {e.Message}");
                return ExitCodes.BadArguments;
            }
            IVmmLauncher launcher = new DetachedVmmLauncher();
            if (parse.GetValue(confine) != "off")
            {
                if (ConfinedVmmLauncher.TryCreate(options.Paths.StateDirectory, options.VmmCommand, overheadBytes, out string? why) is { } confined) launcher = confined;
                else if (parse.GetValue(confine) == "on")
                {
                    Console.Error.WriteLine($"sharpvisor daemon: --confine on, but this host cannot confine VMMs: {why}");
                    return ExitCodes.VmmError;
                }
                else Console.Error.WriteLine($"sharpvisor daemon: VMMs run unconfined: {why}");
            }
            Console.Error.WriteLine($"sharpvisor daemon: VMMs run {(launcher is ConfinedVmmLauncher ? "confined (cgroup, jail, own uid)" : "unconfined")}");
            using var stop = new CancellationTokenSource();
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; stop.Cancel(); });
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; stop.Cancel(); });
            try
            {
                return DaemonServer.RunAsync(options, listenOptions, launcher, line => Console.Error.WriteLine($"sharpvisor daemon: {line}"), stop.Token)
                    .GetAwaiter().GetResult();
            }
            catch (Exception e) when (e is IOException or InvalidDataException or System.Net.Sockets.SocketException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"sharpvisor daemon: {e.Message}");
                return ExitCodes.VmmError;
            }
        });
        return command;
    }

    /// <summary>How to run this same CLI again (the VMM of each VM is `sharpvisor run`): dotnet and our dll, or our apphost.</summary>
    private static string[] OwnCommand()
    {
        string host = Environment.ProcessPath ?? "dotnet";
        string entry = typeof(DaemonCommand).Assembly.Location;
        return Path.GetFileNameWithoutExtension(host) == "dotnet" ? [host, entry] : [host];
    }

    private static System.Net.IPEndPoint ParseEndpoint(string text)
    {
        int colon = text.LastIndexOf(':');
        if (colon < 0 || !int.TryParse(text[(colon + 1)..], NumberStyles.None, CultureInfo.InvariantCulture, out int port) || port is < 1 or > 65535)
            throw new FormatException($"--listen {text} is not ADDR:PORT");
        string address = text[..colon].Trim('[', ']');
        if (!System.Net.IPAddress.TryParse(address.Length == 0 ? "0.0.0.0" : address, out var ip)) throw new FormatException($"--listen: '{address}' is not an IP address");
        return new System.Net.IPEndPoint(ip, port);
    }
}
