using System.CommandLine;
using System.Runtime.InteropServices;
using Sharpvisor.Machine.Cpu;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.EngineSelection;
using Sharpvisor.Vmm.Images;
using Sharpvisor.Vmm.Lifecycle;
using Sharpvisor.Vmm.Migration;
using Sharpvisor.Vmm.Serial;
using Sharpvisor.Vmm.Snapshots;

namespace Sharpvisor.Cli.Commands;

/// <summary>`sharpvisor run`: boot a guest (the default Debian guest unless --kernel is given) on the console.</summary>
internal static class RunCommand
{
    public static Command Create()
    {
        var kernel = new Option<string?>("--kernel") { Description = "Kernel to boot: a Linux bzImage, or an ELF with a PVH entry note. Default: Debian's cloud kernel (fetched on first use)." };
        var initrd = new Option<string?>("--initrd") { Description = "Initial ramdisk (with the default kernel: the default busybox initramfs)." };
        var cmdline = new Option<string?>("--cmdline") { Description = $"Kernel command line (default guest: \"{DefaultGuestImage.SuggestedCommandLine}\")." };
        var memory = new Option<string>("--memory", "-m") { Description = "Guest RAM, e.g. 512M or 2G.", DefaultValueFactory = _ => "512M" };
        var vcpus = new Option<int?>("--vcpus", "--smp") { Description = "Number of vCPUs (one socket, N cores)." };
        var topology = new Option<string?>("--topology") { Description = "vCPU topology: sockets=S,cores=C,threads=T." };
        var engine = new Option<string>("--engine") { Description = "auto, kvm or emulator.", DefaultValueFactory = _ => "auto" };
        engine.AcceptOnlyFromAmong([.. EngineCatalog.ChoiceNames]);
        var serial = new Option<string>("--serial") { Description = "Where COM1 goes: stdio, none, file:PATH or unix:PATH.", DefaultValueFactory = _ => "stdio" };
        var testDevices = new Option<bool>("--test-devices") { Description = "Attach the debug-exit port (0xF4) and the pc-testdev echo device our test guests use." };
        var reportInstructions = new Option<bool>("--report-instructions") { Description = "Print the guest instructions the emulator's vCPUs retired: at the default guest's ready line and at the end." };
        var disks = new Option<string[]>("--disk") { Description = "A disk image (raw or qcow2) as virtio-blk: PATH[,ro][,format=raw|qcow2]; without format= it is found by its magic, and a probed raw disk refuses guest writes of the qcow2 magic. Repeat for more disks (/dev/vda, /dev/vdb, ...).", Arity = ArgumentArity.ZeroOrMore };
        var nets = new Option<string[]>("--net") { Description = "A virtio-net interface on a tap: tap=NAME[,mac=52:54:00:12:34:56]. The tap is created (root) when it does not exist and brought up. Repeat for more (eth0, eth1, ...).", Arity = ArgumentArity.ZeroOrMore };
        var vsock = new Option<string?>("--vsock") { Description = "A virtio-vsock device, Firecracker's host side: cid=N,uds=PATH. Host programs connect to PATH and write \"CONNECT port\\n\"; the guest's connections to port P reach PATH_P." };
        var noRng = new Option<bool>("--no-rng") { Description = "Leave out the virtio-rng device." };
        var balloon = new Option<bool>("--balloon") { Description = "Add a virtio-balloon device (statistics, free page reporting; resize it with `sharpvisor balloon`)." };
        var noReboot = new Option<bool>("--no-reboot") { Description = "End the run when the guest resets, instead of rebooting it." };
        var restore = new Option<string?>("--restore") { Description = "Resume the snapshot in DIR instead of booting (its configuration wins over the machine options; --engine and --serial still apply)." };
        var control = new Option<string?>("--control") { Description = "Listen for control commands (pause, resume, snapshot, stop) on this Unix socket: see `sharpvisor pause --help`." };
        var noVerifyMemory = new Option<bool>("--no-verify-memory") { Description = "With --restore: check the memory file's size but not the SHA-256 of its pages (which reads them all), so pages load only as the guest touches them." };
        var ksm = new Option<bool>("--ksm") { Description = "Mark guest RAM mergeable (MADV_MERGEABLE), so the host's KSM, when on, may share identical pages between VMs." };
        var numa = new Option<string[]>("--numa") { Description = "A guest NUMA node: nodeN:cpus=0-1,mem=512M, one per node in order; together they hold every vCPU and all of --memory (ACPI SRAT and SLIT).", Arity = ArgumentArity.ZeroOrMore };
        var paused = new Option<bool>("--paused") { Description = "Start with the vCPUs stopped, until `sharpvisor resume` (QEMU's -S)." };
        var holdInput = new Option<string?>("--hold-input-until") { Description = "Console input waits until the guest prints this text (the default guest's ready line is used without --kernel)." };
        var exitReport = new Option<string?>("--exit-report") { Description = "Write how the run ended (exit code, outcome, message) to this JSON file as the VMM's last act, for a supervisor that is not its parent." };
        var incoming = new Option<string?>("--incoming") { Description = "Wait for a live migration on [ADDR:]PORT (TCP; all addresses when ADDR is left out) and run the VM that arrives (`sharpvisor migrate`); its configuration comes from the source, --engine, --serial and --control apply." };

        var command = new Command("run", """
            Boot a guest with its serial console on this terminal. Piped stdin is typed into the guest; on a terminal
            the console is raw and Ctrl-A x quits. Exit codes: 0 the guest powered off (or migrated away), 1 the guest crashed,
            2 bad arguments, 3 VMM error, 4 no engine here can run the guest, 5 a test guest reported failure,
            6 stopped from outside (Ctrl-A x, SIGINT, SIGTERM).
            """)
        {
            kernel, initrd, cmdline, memory, vcpus, topology, engine, serial, testDevices, noReboot, disks, nets, vsock, noRng, balloon,
            restore, control, paused, noVerifyMemory, reportInstructions, incoming, exitReport, ksm, holdInput, numa,
        };
        command.SetAction(parse => WithExitReport(parse.GetValue(exitReport), () => Run(parse)));
        return command;

        int Run(ParseResult parse)
        {
            if (parse.GetValue(incoming) is { } listenOn)
                return Incoming(listenOn, parse.GetValue(engine)!, parse.GetValue(serial)!, parse.GetValue(control));
            if (parse.GetValue(restore) is { } snapshotDirectory)
                return Restore(snapshotDirectory, parse.GetValue(engine)!, parse.GetValue(serial)!, parse.GetValue(control), parse.GetValue(paused),
                    verifyMemory: !parse.GetValue(noVerifyMemory));
            ulong memoryBytes;
            CpuTopology cpuTopology;
            SerialSpec serialSpec;
            DiskSpec[] diskSpecs;
            NetSpec[] netSpecs;
            IReadOnlyList<Sharpvisor.Machine.Memory.NumaNode> numaNodes;
            VsockSpec? vsockSpec;
            try
            {
                numaNodes = NumaSpec.Parse(parse.GetValue(numa) ?? []);
                vsockSpec = parse.GetValue(vsock) is { } v ? VsockSpec.Parse(v) : null;
                diskSpecs = (parse.GetValue(disks) ?? []).Select(DiskSpec.Parse).ToArray();
                netSpecs = (parse.GetValue(nets) ?? []).Select(NetSpec.Parse).ToArray();
                memoryBytes = MemorySize.Parse(parse.GetValue(memory)!);
                if (parse.GetValue(vcpus) is { } n && parse.GetValue(topology) is not null)
                    throw new FormatException("give --vcpus or --topology, not both");
                cpuTopology = parse.GetValue(topology) is { } t ? CpuTopology.Parse(t)
                    : CpuTopology.Flat(parse.GetValue(vcpus) ?? 1).Validated();
                serialSpec = SerialSpec.Parse(parse.GetValue(serial)!);
            }
            catch (FormatException e)
            {
                return Fail(ExitCodes.BadArguments, e.Message);
            }

            string? kernelPath = parse.GetValue(kernel);
            string? initrdPath = parse.GetValue(initrd);
            string? commandLine = parse.GetValue(cmdline);
            if (kernelPath is not null && !File.Exists(kernelPath)) return Fail(ExitCodes.BadArguments, $"kernel '{kernelPath}' does not exist");
            if (initrdPath is not null && !File.Exists(initrdPath)) return Fail(ExitCodes.BadArguments, $"initrd '{initrdPath}' does not exist");

            bool isLinux = kernelPath is null || KernelKind.IsLinux(kernelPath);
            var choice = EngineChoice.Parse(parse.GetValue(engine)!);
            var selection = new EngineSelector().Select(choice, isLinux);
            Console.Error.WriteLine($"sharpvisor: {selection.Explanation}");
            if (selection.Engine is null) return ExitCodes.NoEngine;

            string? holdInputUntil = parse.GetValue(holdInput);
            if (kernelPath is null)
            {
                try
                {
                    var image = DefaultGuestImage.EnsureAsync(new Progress<string>(line => Console.Error.WriteLine($"sharpvisor: {line}"))).GetAwaiter().GetResult();
                    kernelPath = image.KernelPath;
                    initrdPath ??= image.InitrdPath;
                    commandLine ??= DefaultGuestImage.SuggestedCommandLine;
                    holdInputUntil = DefaultGuestImage.ReadyLinePrefix;
                }
                catch (Exception e)
                {
                    return Fail(ExitCodes.VmmError, $"cannot prepare the default guest image: {e.Message}");
                }
            }

            VmConfig config;
            try
            {
                config = new VmConfig
                {
                    KernelPath = kernelPath, InitrdPath = initrdPath, CommandLine = commandLine ?? "",
                    MemoryBytes = memoryBytes, Topology = cpuTopology, Serial = serialSpec,
                    TestDevices = parse.GetValue(testDevices), NoReboot = parse.GetValue(noReboot),
                    HoldInputUntilOutput = holdInputUntil,
                    Disks = diskSpecs, Networks = netSpecs, EntropyDevice = !parse.GetValue(noRng), BalloonDevice = parse.GetValue(balloon),
                    Ksm = parse.GetValue(ksm), NumaNodes = numaNodes, Vsock = vsockSpec,
                }.Validated(HostMemory.TotalBytes());
            }
            catch (FormatException e)
            {
                return Fail(ExitCodes.BadArguments, e.Message);
            }
            return Boot(config, selection, null, parse.GetValue(control), parse.GetValue(paused), parse.GetValue(reportInstructions));
        }
    }

    // The outcome and message of the last run of this process, for the exit report.
    private static (VmOutcome Outcome, string Message)? _ending;

    private static int WithExitReport(string? path, Func<int> run)
    {
        int code = run();
        if (path is null) return code;
        var (outcome, message) = _ending ?? (VmOutcome.VmmError, _lastFailure ?? $"the VMM exited with code {code} before the VM ran");
        try
        {
            new VmmExitReport(VmmExitReport.CurrentVersion, code, outcome, message, DateTimeOffset.UtcNow).Write(Path.GetFullPath(path));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"sharpvisor: cannot write the exit report {path}: {e.Message}");
        }
        return code;
    }

    /// <summary>`run --restore DIR` and `snapshot restore DIR`: loads and checks the snapshot, then runs it.</summary>
    public static int Restore(string directory, string engineName, string serialText, string? controlPath, bool startPaused, bool verifyMemory)
    {
        LoadedSnapshot snapshot;
        SerialSpec serialSpec;
        try
        {
            serialSpec = SerialSpec.Parse(serialText);
            var clock = System.Diagnostics.Stopwatch.StartNew();
            snapshot = SnapshotStore.Load(directory, verifyMemory);
            Console.Error.WriteLine($"sharpvisor: snapshot {directory}: {snapshot.Manifest.Vcpus.Length} vCPU(s), {snapshot.Manifest.Memory.StoredPages} stored pages, " +
                                    $"saved on {snapshot.Manifest.SourceEngine} at {snapshot.Manifest.CreatedUtc:u}; {(verifyMemory ? "verified" : "state verified, memory size checked")} in {clock.Elapsed.TotalMilliseconds:0} ms");
        }
        catch (FormatException e)
        {
            return Fail(ExitCodes.BadArguments, e.Message);
        }
        catch (Exception e) when (e is SnapshotException or IOException or UnauthorizedAccessException)
        {
            return Fail(ExitCodes.VmmError, $"cannot restore: {e.Message}");
        }
        var config = snapshot.Manifest.Config with { Serial = serialSpec, HoldInputUntilOutput = null };
        // The kernel is not needed to resume; where it is still there it tells whether the guest is Linux.
        bool isLinux = !File.Exists(config.KernelPath) || KernelKind.IsLinux(config.KernelPath);
        var selection = new EngineSelector().Select(EngineChoice.Parse(engineName), isLinux);
        Console.Error.WriteLine($"sharpvisor: {selection.Explanation}");
        if (selection.Engine is null) return ExitCodes.NoEngine;
        return Boot(config, selection, snapshot, controlPath, startPaused, reportInstructions: false);
    }

    /// <summary>
    /// `run --incoming [ADDR:]PORT`: listens, receives a migrating VM, builds it (the source then gets its ack and
    /// stops) and runs it. A broken or refused stream ends with the VMM-error exit code; the source keeps running.
    /// </summary>
    public static int Incoming(string listenOn, string engineName, string serialText, string? controlPath)
    {
        System.Net.IPEndPoint endpoint;
        SerialSpec serialSpec;
        try
        {
            endpoint = MigrationEndpoint.ParseListen(listenOn);
            serialSpec = SerialSpec.Parse(serialText);
        }
        catch (Exception e) when (e is FormatException or System.Net.Sockets.SocketException)
        {
            return Fail(ExitCodes.BadArguments, e.Message);
        }
        IncomingMigration listener;
        try
        {
            listener = IncomingMigration.Listen(endpoint);
        }
        catch (System.Net.Sockets.SocketException e)
        {
            return Fail(ExitCodes.VmmError, $"cannot listen for a migration on {endpoint}: {e.Message}");
        }
        ReceivedMigration received;
        using (listener)
        using (var cancel = new CancellationTokenSource())
        {
            // Before it says it waits, as QEMU's -incoming initializes first: a source that connects meanwhile waits in the
            // listen backlog, and its machine is then built on loaded code, without a warm-up competing for the CPU.
            // The engine is the one a Linux guest gets (the usual case); the real one is chosen from the configuration.
            if (new EngineSelector().Select(EngineChoice.Parse(engineName), guestIsLinux: true).Engine is { } likely)
            {
                try { listener.WarmUp(likely).Wait(TimeSpan.FromSeconds(10)); }
                catch (AggregateException) { } // only the warm-up is lost
            }
            Console.Error.WriteLine($"sharpvisor: waiting for a migration on {MigrationEndpoint.Format(listener.LocalEndpoint)}");
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; cancel.Cancel(); });
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; cancel.Cancel(); });
            try
            {
                received = listener.Accept(TimeSpan.FromSeconds(30), cancel.Token);
            }
            catch (OperationCanceledException)
            {
                Console.Error.WriteLine("sharpvisor: stopped while waiting for a migration");
                return ExitCodes.Stopped;
            }
            catch (MigrationException e)
            {
                return Fail(ExitCodes.VmmError, $"the incoming migration failed: {e.Message}");
            }
        }
        using (received)
        {
            Console.Error.WriteLine($"sharpvisor: a migration from {received.Source} ({received.SourceEngine} engine, " +
                                    $"{MemorySize.Format(received.Config.MemoryBytes)}): building the machine while its memory arrives");
            var config = received.Config with { Serial = serialSpec };
            bool isLinux = !File.Exists(config.KernelPath) || KernelKind.IsLinux(config.KernelPath);
            var selection = new EngineSelector().Select(EngineChoice.Parse(engineName), isLinux);
            Console.Error.WriteLine($"sharpvisor: {selection.Explanation}");
            if (selection.Engine is null)
            {
                received.Refuse($"no engine on the destination can run the VM: {selection.Explanation}");
                return ExitCodes.NoEngine;
            }
            return Boot(config, selection, null, controlPath, startPaused: false, reportInstructions: false, incoming: received);
        }
    }

    private static int Boot(VmConfig config, EngineSelector.Selection selection, LoadedSnapshot? restore, string? controlPath, bool startPaused, bool reportInstructions,
        ReceivedMigration? incoming = null)
    {
        using var terminal = config.Serial.Target == SerialSpec.Kind.Stdio ? RawTerminal.TryEnter() : null;
        if (terminal is not null) Console.Error.Write("sharpvisor: console attached; Ctrl-A x quits, Ctrl-A h for help\r\n");
        ISerialBackend backend;
        try
        {
            // Raw file descriptors, not Console streams: .NET's console layer would interpret terminal input itself.
            var stdin = InheritedDescriptor.IsInherited(0)
                ? new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(0, ownsHandle: false), FileAccess.Read, 1)
                : null; // started with stdin closed: descriptor 0 is then one the runtime opened for itself
            var stdout = new FileStream(new Microsoft.Win32.SafeHandles.SafeFileHandle(1, ownsHandle: false), FileAccess.Write, 1);
            backend = SerialBackends.Create(config.Serial, stdin, stdout, terminal is not null);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Net.Sockets.SocketException)
        {
            return Fail(ExitCodes.VmmError, $"cannot open the serial target {config.Serial}: {e.Message}");
        }
        using var vm = new Vm(config, selection.Engine!, backend) { RestoreFrom = restore, StartPaused = startPaused, Incoming = incoming };
        VmControlServer? controlServer;
        try
        {
            controlServer = controlPath is null ? null : new VmControlServer(vm, controlPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or System.Net.Sockets.SocketException)
        {
            return Fail(ExitCodes.VmmError, $"cannot listen on the control socket {controlPath}: {e.Message}");
        }
        using var _ = controlServer;
        if (restore is not null || incoming is not null) vm.Started += v => { foreach (var note in v.RestoreNotes) Console.Error.Write($"sharpvisor: {note}\r\n"); };
        if (incoming is not null)
            vm.Started += _ => Console.Error.Write($"sharpvisor: received {incoming.PagesReceived} pages ({incoming.BytesReceived / (1024.0 * 1024.0):0.0} MiB) in " +
                                                  $"{incoming.Rounds} rounds in {incoming.Elapsed.TotalMilliseconds:0} ms; the VM runs here\r\n");
        using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, c => { c.Cancel = true; vm.Stop("SIGINT"); });
        using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, c => { c.Cancel = true; vm.Stop("SIGTERM"); });
        if (reportInstructions) ReportInstructionsAtReadyLine(vm);
        if (Environment.GetEnvironmentVariable("SHARPVISOR_DEBUG_MEMORY") is { Length: > 0 } everySeconds) ReportMemoryPeriodically(vm, everySeconds);
        var result = vm.Run();
        _ending = (result.Outcome, result.Message.TrimEnd());
        terminal?.Dispose();
        string line = terminal is not null ? "\r\n" : "\n";
        Console.Error.Write($"{line}sharpvisor: {result.Message.TrimEnd()} ({result.Elapsed.TotalSeconds:0.00} s){line}");
        if (reportInstructions && vm.GuestInstructionsRetired is { } retired)
            Console.Error.Write($"sharpvisor: guest instructions retired at the end: {retired}{line}");
        return result.Outcome switch
        {
            VmOutcome.PoweredOff or VmOutcome.ResetRequested or VmOutcome.Migrated => ExitCodes.GuestPoweredOff,
            VmOutcome.GuestCrashed => ExitCodes.GuestCrashed,
            VmOutcome.GuestReportedFailure => ExitCodes.GuestReportedFailure,
            VmOutcome.Stopped => ExitCodes.Stopped,
            _ => ExitCodes.VmmError,
        };
    }

    // Watches the guest's serial output for the default guest's ready line, matched byte by byte as it arrives.
    private static void ReportInstructionsAtReadyLine(Vm vm)
    {
        byte[] marker = System.Text.Encoding.ASCII.GetBytes(DefaultGuestImage.ReadyLinePrefix);
        int matched = 0;
        vm.SerialOutput += value =>
        {
            matched = value == marker[matched] ? matched + 1 : value == marker[0] ? 1 : 0;
            if (matched < marker.Length) return;
            matched = 0;
            if (vm.GuestInstructionsRetired is { } retired)
                Console.Error.WriteLine($"sharpvisor: guest instructions retired at the ready line: {retired}");
        };
    }

    // SHARPVISOR_DEBUG_MEMORY=SECONDS: every so many seconds, a line on stderr with the .NET GC's heap figures (after
    // the last collection) and the guest RAM present in host memory; for finding where a VM's host memory goes.
    private static void ReportMemoryPeriodically(Vm vm, string everySeconds)
    {
        int period = int.TryParse(everySeconds, out int s) && s > 0 ? s * 1000 : 10_000;
        var thread = new Thread(() =>
        {
            while (true)
            {
                Thread.Sleep(period);
                var info = GC.GetGCMemoryInfo(GCKind.Any);
                const double M = 1024.0 * 1024.0;
                var generations = string.Join(" ", info.GenerationInfo.ToArray().Select((g, n) => $"gen{n}={g.SizeAfterBytes / M:0.0}"));
                Console.Error.Write($"sharpvisor: memory: gc heap {info.HeapSizeBytes / M:0.0} MiB ({generations}; fragmented {info.FragmentedBytes / M:0.0})" +
                                    $", committed {info.TotalCommittedBytes / M:0.0} MiB, allocated so far {GC.GetTotalAllocatedBytes() / M:0.0} MiB" +
                                    $", collections {GC.CollectionCount(0)}/{GC.CollectionCount(1)}/{GC.CollectionCount(2)}" +
                                    $", guest RAM resident {(vm.GuestResidentBytes ?? 0) / M:0.0} MiB\r\n");
            }
        }) { IsBackground = true, Name = "memory report" };
        thread.Start();
    }

    private static string? _lastFailure;

    private static int Fail(int code, string message)
    {
        _lastFailure = message;
        Console.Error.WriteLine($"sharpvisor: {message}");
        return code;
    }
}
