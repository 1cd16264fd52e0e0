using Sharpvisor.Api.Firecracker.Http;
using Sharpvisor.Api.Firecracker.Model;
using Sharpvisor.Machine.Cpu;
using Sharpvisor.Machine.Devices.Virtio;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Networking;
using Sharpvisor.Vmm.Networking.Mmds;

namespace Sharpvisor.Api.Firecracker.MicroVm;

/// <summary>
/// What the API configured before InstanceStart (Firecracker's VM resources), each checked as it is set so a bad
/// request changes nothing; <see cref="ToVmConfig"/> turns them into the VMM's <see cref="VmConfig"/>.
/// </summary>
public sealed class MicroVmResources
{
    public const int MaxVcpus = 32;
    private readonly List<Drive> _drives = [];
    private readonly List<NetworkInterface> _interfaces = [];

    public MachineConfiguration Machine { get; private set; } = MachineConfiguration.Default;
    public BootSource? BootSource { get; private set; }
    public Model.Balloon? Balloon { get; private set; }
    public EntropyDevice? Entropy { get; private set; }
    public VsockDevice? Vsock { get; private set; }
    public MmdsConfig? Mmds { get; private set; }
    public LoggerConfig? Logger { get; set; }
    public MetricsConfig? Metrics { get; set; }
    public IReadOnlyList<Drive> Drives => _drives;
    public IReadOnlyList<NetworkInterface> Interfaces => _interfaces;

    /// <summary>Whether anything that shapes the machine was set (snapshot/load is refused then, as in Firecracker).</summary>
    public bool AnyMachineResource => BootSource is not null || _drives.Count > 0 || _interfaces.Count > 0 || Balloon is not null
                                      || Entropy is not null || Vsock is not null || Mmds is not null || Machine != MachineConfiguration.Default;

    public void SetMachine(MachineConfiguration config)
    {
        if (config.VcpuCount is < 1 or > MaxVcpus) throw new ApiFaultException($"'vcpu_count' must be 1 to {MaxVcpus}, not {config.VcpuCount}");
        if (config.Smt && config.VcpuCount > 1 && config.VcpuCount % 2 != 0)
            throw new ApiFaultException($"'vcpu_count' must be 1 or even with 'smt' on (two threads a core), not {config.VcpuCount}");
        long minMib = (long)(VmConfig.MinMemory >> 20);
        if (config.MemSizeMib < minMib) throw new ApiFaultException($"'mem_size_mib' must be at least {minMib}, not {config.MemSizeMib}");
        if (config.CpuTemplate is not (null or "None"))
            throw new ApiFaultException($"'cpu_template' {config.CpuTemplate}: CPU templates are not supported by Sharpvisor; use \"None\"");
        if (config.HugePages is not (null or "None"))
            throw new ApiFaultException($"'huge_pages' {config.HugePages}: only \"None\" is supported by Sharpvisor");
        if (Balloon is { } balloon && balloon.AmountMib > config.MemSizeMib)
            throw new ApiFaultException($"'mem_size_mib' {config.MemSizeMib} is less than the balloon's amount_mib {balloon.AmountMib}");
        Machine = config;
    }

    public void SetBootSource(BootSource source)
    {
        if (!File.Exists(source.KernelImagePath)) throw new ApiFaultException($"'kernel_image_path': {source.KernelImagePath} does not exist");
        if (source.InitrdPath is { } initrd && !File.Exists(initrd)) throw new ApiFaultException($"'initrd_path': {initrd} does not exist");
        BootSource = source;
    }

    public void PutDrive(string? pathId, Drive drive)
    {
        string id = ResourceId.Check(pathId, drive.DriveId, "drive_id");
        if (drive.Socket is not null) throw new ApiFaultException("'socket': vhost-user block devices are not supported by Sharpvisor; give 'path_on_host'");
        if (drive.PathOnHost is null) throw new ApiFaultException("missing required field 'path_on_host'");
        if (drive.IsReadOnly is null) throw new ApiFaultException("missing required field 'is_read_only'");
        if (!File.Exists(drive.PathOnHost)) throw new ApiFaultException($"'path_on_host': {drive.PathOnHost} does not exist");
        if (drive.CacheType is not (null or "Unsafe" or "Writeback"))
            throw new ApiFaultException($"'cache_type' must be \"Unsafe\" or \"Writeback\", not \"{drive.CacheType}\"");
        if (drive.IoEngine is not (null or "Sync" or "Async"))
            throw new ApiFaultException($"'io_engine' must be \"Sync\" or \"Async\", not \"{drive.IoEngine}\"");
        RateLimiterSpecs.Check(drive.RateLimiter, "rate_limiter");
        if (drive.IsRootDevice && _drives.FirstOrDefault(d => d.IsRootDevice && d.DriveId != id) is { } root)
            throw new ApiFaultException($"drive '{root.DriveId}' is already the root device; only one drive can be");
        int at = _drives.FindIndex(d => d.DriveId == id);
        if (at < 0 && _drives.Count >= 26) throw new ApiFaultException("at most 26 drives");
        if (at >= 0) _drives[at] = drive;
        else _drives.Add(drive);
    }

    public void PutInterface(string? pathId, NetworkInterface nic)
    {
        string id = ResourceId.Check(pathId, nic.IfaceId, "iface_id");
        if (!TapBackend.IsValidInterfaceName(nic.HostDevName))
            throw new ApiFaultException($"'host_dev_name': '{nic.HostDevName}' is not a valid tap name (1-15 characters, no '/', ':' or spaces)");
        string? mac = null;
        if (nic.GuestMac is { } text)
        {
            if (!VirtioNet.TryParseMac(text, out var bytes) || (bytes[0] & 1) != 0 || bytes.All(b => b == 0))
                throw new ApiFaultException($"'guest_mac': '{text}' is not a unicast MAC address (six hex bytes like 06:00:AC:10:00:02)");
            mac = VirtioNet.FormatMac(bytes);
        }
        if (nic.Mtu is not null) throw new ApiFaultException("'mtu' is not supported by Sharpvisor yet; leave it out");
        RateLimiterSpecs.Check(nic.RxRateLimiter, "rx_rate_limiter");
        RateLimiterSpecs.Check(nic.TxRateLimiter, "tx_rate_limiter");
        var others = _interfaces.Where(n => n.IfaceId != id).ToArray();
        if (others.FirstOrDefault(n => n.HostDevName == nic.HostDevName) is { } sameTap)
            throw new ApiFaultException($"'host_dev_name': tap {nic.HostDevName} is already used by interface '{sameTap.IfaceId}'");
        if (mac is not null && others.FirstOrDefault(n => n.GuestMac is { } m && string.Equals(m, mac, StringComparison.OrdinalIgnoreCase)) is { } sameMac)
            throw new ApiFaultException($"'guest_mac': {mac} is already used by interface '{sameMac.IfaceId}'");
        int at = _interfaces.FindIndex(n => n.IfaceId == id);
        if (at >= 0) _interfaces[at] = nic;
        else _interfaces.Add(nic);
    }

    public void SetBalloon(Model.Balloon balloon)
    {
        if (balloon.AmountMib < 0 || balloon.AmountMib > Machine.MemSizeMib)
            throw new ApiFaultException($"'amount_mib' must be 0 to the guest's {Machine.MemSizeMib} MiB, not {balloon.AmountMib}");
        if (balloon.StatsPollingIntervalS < 0) throw new ApiFaultException("'stats_polling_interval_s' must not be negative");
        if (balloon.FreePageHinting == true) throw new ApiFaultException("'free_page_hinting' is not supported by Sharpvisor (free page reporting is)");
        Balloon = balloon;
    }

    /// <summary>After boot: a drive's or an interface's rate limiters changed through PATCH (already applied).</summary>
    internal void ReplaceDrive(Drive drive) => _drives[_drives.FindIndex(d => d.DriveId == drive.DriveId)] = drive;

    internal void ReplaceInterface(NetworkInterface nic) => _interfaces[_interfaces.FindIndex(n => n.IfaceId == nic.IfaceId)] = nic;

    /// <summary>The drives in the order the guest sees them: the root device first (/dev/vda), then the others as added.</summary>
    public IReadOnlyList<Drive> DrivesInGuestOrder =>
        _drives.Where(d => d.IsRootDevice).Concat(_drives.Where(d => !d.IsRootDevice)).ToArray();

    /// <summary>After boot: the balloon's size or polling interval changed through PATCH (already checked and applied).</summary>
    internal void ReplaceBalloon(Model.Balloon balloon) => Balloon = balloon;

    /// <summary>
    /// After snapshot/load: machine-config and balloon as the restored machine has them, for GET /vm/config and the
    /// balloon calls. Our snapshot keeps the VMM's configuration, not Firecracker's resources, so the balloon's polling
    /// interval (not carried) becomes <see cref="RestoredStatsPollingSeconds"/>; drive and interface ids are not carried.
    /// </summary>
    internal void AdoptRestored(VmConfig config, VirtioBalloon? balloon)
    {
        Machine = MachineConfiguration.Default with
        {
            VcpuCount = config.Topology.VcpuCount, MemSizeMib = (long)(config.MemoryBytes >> 20), Smt = config.Topology.Threads > 1,
        };
        if (config.BalloonDevice)
            Balloon = new Model.Balloon
            {
                AmountMib = (long)(balloon?.TargetPages ?? 0) * VirtioBalloon.PageSize >> 20, DeflateOnOom = true,
                StatsPollingIntervalS = RestoredStatsPollingSeconds,
            };
        Entropy = config.EntropyDevice ? new EntropyDevice() : null;
        Vsock = config.Vsock is { } v ? new VsockDevice { GuestCid = (long)v.Cid, UdsPath = v.UdsPath } : null;
    }

    public const int RestoredStatsPollingSeconds = 1;

    public void SetVsock(VsockDevice vsock)
    {
        if (vsock.GuestCid < (long)VirtioVsock.FirstGuestCid || vsock.GuestCid > (long)VirtioVsock.LastGuestCid)
            throw new ApiFaultException($"'guest_cid' must be {VirtioVsock.FirstGuestCid} to {VirtioVsock.LastGuestCid} (0-2 are reserved), not {vsock.GuestCid}");
        try
        {
            new VsockSpec((ulong)vsock.GuestCid, vsock.UdsPath).Validated();
        }
        catch (FormatException e)
        {
            throw new ApiFaultException($"'uds_path': {e.Message}");
        }
        Vsock = vsock;
    }

    public void SetMmdsConfig(MmdsConfig config)
    {
        if (config.NetworkInterfaces.Count == 0) throw new ApiFaultException("'network_interfaces' must name at least one network interface");
        if (config.NetworkInterfaces.FirstOrDefault(id => _interfaces.All(n => n.IfaceId != id)) is { } unknown)
            throw new ApiFaultException($"'network_interfaces': there is no network interface '{unknown}' (PUT /network-interfaces first)");
        if (config.Version is not (null or "V1" or "V2")) throw new ApiFaultException($"'version' must be \"V1\" or \"V2\", not \"{config.Version}\"");
        if (config.Ipv4Address is { } text)
        {
            if (!System.Net.IPAddress.TryParse(text, out var address) || address.AddressFamily != System.Net.Sockets.AddressFamily.InterNetwork)
                throw new ApiFaultException($"'ipv4_address': '{text}' is not an IPv4 address");
            byte[] bytes = address.GetAddressBytes();
            if (bytes[0] != 169 || bytes[1] != 254) throw new ApiFaultException($"'ipv4_address': {text} is not link-local (169.254.0.0/16)");
        }
        Mmds = config with { Version = config.Version ?? "V1", Ipv4Address = config.Ipv4Address ?? MetadataService.DefaultAddress.ToString() };
    }

    /// <summary>The metadata service for InstanceStart: the taps of the interfaces /mmds/config named, answering from <paramref name="store"/>.</summary>
    internal MetadataService? ToMetadataService(MmdsDataStore store) => Mmds is not { } config ? null : new MetadataService(
        System.Net.IPAddress.Parse(config.Ipv4Address!),
        _interfaces.Where(n => config.NetworkInterfaces.Contains(n.IfaceId)).Select(n => n.HostDevName).ToArray(),
        new MmdsGuestResponder(store, config.Version == "V2", config.ImdsCompat == true));

    public void SetEntropy(EntropyDevice entropy)
    {
        ResourceId.RefuseRateLimiter(entropy.RateLimiter, "rate_limiter");
        Entropy = entropy;
    }

    /// <summary>The VMM's configuration for InstanceStart; the words dropped from boot_args come back for the log.</summary>
    public (VmConfig Config, IReadOnlyList<string> DroppedBootWords) ToVmConfig()
    {
        var boot = BootSource ?? throw new ApiFaultException("InstanceStart needs a kernel: PUT /boot-source first");
        var root = _drives.FirstOrDefault(d => d.IsRootDevice);
        var ordered = DrivesInGuestOrder;
        var (commandLine, dropped) = BootArguments.Build(boot.BootArgs, root is null ? null : "/dev/vda", root?.IsReadOnly == true, root?.Partuuid);
        var config = new VmConfig
        {
            KernelPath = boot.KernelImagePath, InitrdPath = boot.InitrdPath, CommandLine = commandLine,
            MemoryBytes = (ulong)Machine.MemSizeMib << 20,
            Topology = Machine.Smt && Machine.VcpuCount > 1 ? new CpuTopology(1, Machine.VcpuCount / 2, 2) : CpuTopology.Flat(Machine.VcpuCount),
            Serial = SerialSpec.Stdio,
            NoReboot = true, // Firecracker's process ends when its guest reboots
            Disks = ordered.Select(d => new DiskSpec(d.PathOnHost!, d.IsReadOnly == true)).ToArray(),
            Networks = _interfaces.Select(n => new NetSpec(n.HostDevName, n.GuestMac)).ToArray(),
            EntropyDevice = Entropy is not null,
            BalloonDevice = Balloon is not null,
            Vsock = Vsock is { } v ? new VsockSpec((ulong)v.GuestCid, v.UdsPath) : null,
        };
        try
        {
            return (config.Validated(HostMemory.TotalBytes()), dropped);
        }
        catch (FormatException e)
        {
            throw new ApiFaultException($"cannot start the microVM: {e.Message}");
        }
    }

    public FullVmConfiguration ToFullConfiguration() => new()
    {
        Balloon = Balloon, Drives = _drives.ToArray(), BootSource = BootSource, Logger = Logger, MachineConfig = Machine,
        Metrics = Metrics, NetworkInterfaces = _interfaces.ToArray(), Entropy = Entropy, Vsock = Vsock, MmdsConfig = Mmds,
    };
}
