using System.IO.Compression;
using System.Text;

namespace Sharpvisor.Vmm.Images;

/// <summary>
/// Builds the default guest's initramfs (a gzip'd newc cpio): a static busybox with a link per applet, the virtio
/// and vsock modules of the kernel (and the ACPI button and evdev, for the power button) with their dependencies at
/// /lib/modules/&lt;release&gt;/..., a matching modules.dep, the basic directories and device nodes, the /init from
/// <see cref="GuestInitScript"/>, the power button's acpid action, and <see cref="GuestVsockRelay"/>'s vsockcat.
/// </summary>
public sealed class InitramfsBuilder
{
    /// <summary>
    /// The virtio drivers a Sharpvisor guest uses, listed so that dependencies tend to come first, then what the power
    /// button needs: the ACPI button driver (PNP0C0C, an input device) and evdev (its /dev/input/event node).
    /// </summary>
    public static readonly IReadOnlyList<ModuleRequest> DefaultModules =
    [
        new("virtio_ring", true),
        new("virtio", true),
        new("virtio_pci_modern_dev", false),
        new("virtio_pci_legacy_dev", false),
        new("virtio_pci", true),
        new("virtio_mmio", false),
        new("virtio_blk", true),
        new("failover", false),
        new("net_failover", false),
        new("virtio_net", true),
        new("rng_core", false),
        new("virtio_rng", true),
        new("virtio_balloon", true),
        new("virtio_console", true),
        new("vsock", true),
        new("vmw_vsock_virtio_transport_common", true),
        new("vmw_vsock_virtio_transport", true),
        new("evdev", true),
        new("button", true),
    ];

    private const UnixFileMode ReadWriteOwner = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode ReadWriteAll = ReadWriteOwner | UnixFileMode.GroupRead | UnixFileMode.GroupWrite |
                                              UnixFileMode.OtherRead | UnixFileMode.OtherWrite;

    private readonly string _busyboxPath;
    private readonly string _modulesDirectory;
    private readonly string _kernelRelease;

    /// <param name="busyboxPath">A static x86-64 busybox (it is also run on the host to list its applets).</param>
    /// <param name="modulesDirectory">The unpacked /lib/modules/&lt;release&gt; of the kernel.</param>
    /// <param name="kernelRelease">The kernel's `uname -r`, e.g. 6.1.0-28-cloud-amd64.</param>
    public InitramfsBuilder(string busyboxPath, string modulesDirectory, string kernelRelease)
    {
        ArgumentException.ThrowIfNullOrEmpty(busyboxPath);
        ArgumentException.ThrowIfNullOrEmpty(modulesDirectory);
        ArgumentException.ThrowIfNullOrEmpty(kernelRelease);
        _busyboxPath = busyboxPath;
        _modulesDirectory = modulesDirectory;
        _kernelRelease = kernelRelease;
    }

    public IReadOnlyList<ModuleRequest> Modules { get; init; } = DefaultModules;

    /// <summary>Modification time of every entry; a fixed value makes the output reproducible.</summary>
    public DateTimeOffset Timestamp { get; init; } = DateTimeOffset.UnixEpoch;

    /// <summary>The modules to load, dependencies first, after dropping optional absent and built-in ones.</summary>
    public IReadOnlyList<KernelModule> ResolveModules(IProgress<string>? progress = null) =>
        ResolveModules(ModuleDependencyGraph.Load(_modulesDirectory), progress);

    private IReadOnlyList<KernelModule> ResolveModules(ModuleDependencyGraph graph, IProgress<string>? progress)
    {
        var wanted = new List<string>();
        foreach (var request in Modules)
        {
            if (graph.Contains(request.Name))
                wanted.Add(request.Name);
            else if (graph.IsBuiltin(request.Name))
                progress?.Report($"module {request.Name} is built into the kernel");
            else if (request.Required)
                throw new GuestImageException($"The kernel in {_modulesDirectory} has no module {request.Name}.");
        }
        return graph.ResolveLoadOrder(wanted);
    }

    /// <summary>The applets of a busybox binary as paths relative to /, e.g. "bin/sh", "usr/bin/setsid".</summary>
    public static async Task<IReadOnlyList<string>> ListBusyboxAppletsAsync(string busyboxPath, CancellationToken ct)
    {
        var full = await ExternalProcess.RunAsync(busyboxPath, ["--list-full"], null, ct).ConfigureAwait(false);
        if (full.Succeeded && full.StandardOutput.Trim().Length > 0) return ParseAppletLines(full.StandardOutput, "");
        // Builds without --list-full: put every applet into /bin.
        var plain = await ExternalProcess.RunAsync(busyboxPath, ["--list"], null, ct).ConfigureAwait(false);
        if (!plain.Succeeded || plain.StandardOutput.Trim().Length == 0)
            throw new GuestImageException($"Cannot list the applets of {busyboxPath}: {plain.Describe()}");
        return ParseAppletLines(plain.StandardOutput, "bin/");
    }

    /// <summary>Writes the gzip'd archive to <paramref name="outputPath"/> and flushes it to disk.</summary>
    public async Task<InitramfsBuildResult> BuildAsync(string outputPath, IProgress<string>? progress, CancellationToken ct)
    {
        var graph = ModuleDependencyGraph.Load(_modulesDirectory);
        var modules = ResolveModules(graph, progress);
        var applets = await ListBusyboxAppletsAsync(_busyboxPath, ct).ConfigureAwait(false);
        ct.ThrowIfCancellationRequested();

        int entries;
        long uncompressed;
        using (var file = new FileStream(outputPath, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            using (var gzip = new GZipStream(file, CompressionLevel.SmallestSize, leaveOpen: true))
            using (var cpio = new CpioNewcWriter(gzip, leaveOpen: true) { Timestamp = Timestamp })
            {
                WriteContent(cpio, graph, modules, applets);
                cpio.Finish();
                entries = cpio.EntryCount;
                uncompressed = cpio.BytesWritten;
            }
            file.Flush(flushToDisk: true);
        }
        long compressed = new FileInfo(outputPath).Length;
        progress?.Report($"building initramfs: {entries} files, {uncompressed / 1024} KiB ({compressed / 1024} KiB gzip'd), " +
                         $"{modules.Count} modules, {applets.Count} busybox applets");
        return new InitramfsBuildResult(entries, uncompressed, compressed, modules, applets.Count);
    }

    private void WriteContent(CpioNewcWriter cpio, ModuleDependencyGraph graph, IReadOnlyList<KernelModule> modules, IReadOnlyList<string> applets)
    {
        foreach (string directory in new[] { "bin", "sbin", "usr/bin", "usr/sbin", "dev", "proc", "sys", "etc", "run", "mnt", "var" })
            cpio.AddDirectory(directory);
        cpio.AddDirectory("tmp", CpioNewcWriter.DefaultDirectoryMode | UnixFileMode.GroupWrite | UnixFileMode.OtherWrite |
                                 UnixFileMode.StickyBit);
        cpio.AddDirectory("root", UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute);

        // The kernel opens /dev/console for /init's stdin/out/err before devtmpfs is mounted.
        cpio.AddCharacterDevice("dev/console", 5, 1, ReadWriteOwner);
        cpio.AddCharacterDevice("dev/null", 1, 3, ReadWriteAll);

        cpio.AddFile("etc/passwd", "root:x:0:0:root:/root:/bin/sh\n"u8);
        cpio.AddFile("etc/group", "root:x:0:\ntty:x:5:\n"u8);

        cpio.AddFileFromDisk("bin/busybox", _busyboxPath, CpioNewcWriter.ExecutableFileMode);
        foreach (string applet in applets)
        {
            if (applet != "bin/busybox") cpio.AddSymlink(applet, "/bin/busybox");
        }

        string modulesRoot = $"lib/modules/{_kernelRelease}";
        cpio.AddDirectory(modulesRoot);
        foreach (var module in modules)
            cpio.AddFileFromDisk($"{modulesRoot}/{module.RelativePath}", Path.Combine(_modulesDirectory, module.RelativePath));
        cpio.AddFile($"{modulesRoot}/{ModuleDependencyGraph.ModulesDepFileName}",
            Encoding.UTF8.GetBytes(graph.FormatModulesDep(modules)));

        cpio.AddFile(GuestVsockRelay.GuestPath, GuestVsockRelay.Build(), CpioNewcWriter.ExecutableFileMode);

        cpio.AddDirectory("etc/acpi");
        cpio.AddDirectory(Path.GetDirectoryName(GuestInitScript.PowerButtonAction)!.TrimStart('/'));
        cpio.AddFile(GuestInitScript.PowerButtonAction.TrimStart('/'), Encoding.UTF8.GetBytes(GuestInitScript.PowerButtonScript),
            CpioNewcWriter.ExecutableFileMode);

        cpio.AddFile(GuestInitScript.DhcpScriptPath.TrimStart('/'), Encoding.UTF8.GetBytes(GuestInitScript.DhcpScript), CpioNewcWriter.ExecutableFileMode);

        cpio.AddFile("init", Encoding.UTF8.GetBytes(
                GuestInitScript.Generate(_kernelRelease, modules.Select(m => m.RelativePath))),
            CpioNewcWriter.ExecutableFileMode);
    }

    private static List<string> ParseAppletLines(string output, string prefix) =>
        output.Split('\n', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
            .Select(line => prefix + line.TrimStart('/'))
            .Distinct(StringComparer.Ordinal)
            .ToList();
}
