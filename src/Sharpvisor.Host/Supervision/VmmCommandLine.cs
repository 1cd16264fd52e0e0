using System.Globalization;
using Sharpvisor.Host.Instances;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Images;

namespace Sharpvisor.Host.Supervision;

/// <summary>The `sharpvisor run` command line that runs a VM's definition in a VMM process of its own.</summary>
internal static class VmmCommandLine
{
    /// <summary>
    /// A fresh boot. For the default guest the daemon fetches its files first (once, not in every VMM at the same
    /// time) and names them, with its command line and its ready line (console input waits for it, as in `run`): a
    /// confined VMM sees only the files it is given.
    /// </summary>
    public static async Task<(List<string> Command, List<string> Readable)> BootAsync(HostDaemonOptions options, InstanceDefinition definition)
    {
        var command = Common(options, definition);
        var t = definition.Topology;
        command.AddRange(["--memory", $"{definition.MemoryBytes / 1024}K",
            "--topology", string.Create(CultureInfo.InvariantCulture, $"sockets={t.Sockets},cores={t.Cores},threads={t.Threads}")]);
        var readable = new List<string>();
        if (definition.KernelPath is { } kernel)
        {
            command.AddRange(["--kernel", kernel]);
            readable.Add(kernel);
        }
        else
        {
            var image = await DefaultGuestImage.EnsureAsync().ConfigureAwait(false);
            command.AddRange(["--kernel", image.KernelPath, "--initrd", image.InitrdPath,
                "--cmdline", definition.CommandLine ?? DefaultGuestImage.SuggestedCommandLine, "--hold-input-until", DefaultGuestImage.ReadyLinePrefix]);
            readable.AddRange([image.KernelPath, image.InitrdPath]);
        }
        if (definition.KernelPath is not null && definition.InitrdPath is { } initrd)
        {
            command.AddRange(["--initrd", initrd]);
            readable.Add(initrd);
        }
        if (definition.KernelPath is not null && definition.CommandLine is { } cmdline) command.AddRange(["--cmdline", cmdline]);
        foreach (var disk in InstanceDiskLayers.Current(options.Paths, definition)) command.AddRange(["--disk", disk.ToString()]);
        foreach (var nic in definition.Networks) command.AddRange(["--net", nic.ToString()]);
        foreach (var (nic, (tap, _)) in definition.NetworkNics.Zip(InstanceManager.NetworkTaps(options.Paths, definition)))
            command.AddRange(["--net", new NetSpec(tap, nic.Mac).ToString()]);
        if (definition.Balloon) command.Add("--balloon");
        if (definition.Ksm) command.Add("--ksm");
        foreach (string node in definition.Numa) command.AddRange(["--numa", node]);
        return (command, readable);
    }

    /// <summary>Resuming a snapshot: its configuration comes from the snapshot.</summary>
    public static List<string> Restore(HostDaemonOptions options, InstanceDefinition definition, string snapshotDirectory)
    {
        var command = Common(options, definition);
        command.AddRange(["--restore", snapshotDirectory]);
        return command;
    }

    /// <summary>Waiting for a live migration on <paramref name="listen"/> (ADDR:PORT).</summary>
    public static List<string> Incoming(HostDaemonOptions options, InstanceDefinition definition, string listen)
    {
        var command = Common(options, definition);
        command.AddRange(["--incoming", listen]);
        return command;
    }

    // A pinned VM's VMM is started through taskset, so every thread it makes (vCPUs included) inherits the CPU list.
    private static List<string> Common(HostDaemonOptions options, InstanceDefinition definition)
    {
        var paths = options.Paths;
        string name = definition.Name;
        List<string> pin = definition.CpuPin is { } cpus ? [HostTaskset, "--cpu-list", cpus] : [];
        return [.. pin, .. options.VmmCommand, "run", "--engine", definition.Engine, "--serial", $"unix:{paths.ConsoleSocket(name)}",
            "--control", paths.ControlSocket(name), "--exit-report", paths.ExitReport(name)];
    }

    private static string HostTaskset => Confinement.HostTools.Find("taskset") ?? "/usr/bin/taskset";
}
