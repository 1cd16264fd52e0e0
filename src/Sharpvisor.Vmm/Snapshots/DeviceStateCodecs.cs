using System.Text.Json;
using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Devices.Input;
using Sharpvisor.Machine.Devices.Interrupts;
using Sharpvisor.Machine.Devices.Pci;
using Sharpvisor.Machine.Devices.Power;
using Sharpvisor.Machine.Devices.Rtc;
using Sharpvisor.Machine.Devices.Serial;
using Sharpvisor.Machine.Devices.Testing;

namespace Sharpvisor.Vmm.Snapshots;

/// <summary>
/// Which device types a snapshot can carry, each through its own versioned state record (its SaveState and
/// RestoreState). A new device registers here with <see cref="Register{TDevice,TState}"/>; a machine holding a device
/// that is not registered cannot be saved (the error names it), rather than being saved without it.
/// </summary>
public sealed class DeviceStateCodecs
{
    private readonly Dictionary<Type, DeviceStateCodec> _byType = [];
    private readonly Dictionary<string, DeviceStateCodec> _byKind = [];

    /// <summary>The machine's devices: serial, i8042, CMOS RTC, PCI root, virtio-pci (with its virtqueues), virtio-net's and virtio-balloon's own state, ACPI power, IOAPIC, the test devices.</summary>
    public static DeviceStateCodecs Default { get; } = CreateDefault();

    private static DeviceStateCodecs CreateDefault()
    {
        var codecs = new DeviceStateCodecs();
        codecs.Register<Uart16550, Uart16550State>("uart16550", d => d.SaveState(), (d, s) => d.RestoreState(s));
        codecs.Register<I8042Controller, I8042ControllerState>("i8042", d => d.SaveState(), (d, s) => d.RestoreState(s));
        codecs.Register<CmosRtc, CmosRtcState>("cmos-rtc", d => d.SaveState(), (d, s) => d.RestoreState(s));
        codecs.Register<PciRoot, PciRootState>("pci-root", d => d.SaveState(), (d, s) => d.RestoreState(s));
        codecs.Register<AcpiPowerDevice, AcpiPowerDeviceState>("acpi-power", d => d.SaveState(), (d, s) => d.RestoreState(s));
        codecs.Register<IoApic, IoApicState>("ioapic", d => d.SaveState(), (d, s) => d.RestoreState(s));
        codecs.Register<Machine.Devices.Virtio.VirtioPciDevice, Machine.Devices.Virtio.VirtioPciDeviceState>("virtio-pci", d => d.SaveState(), (d, s) => d.RestoreState(s));
        codecs.Register<Machine.Devices.Virtio.VirtioNet, Machine.Devices.Virtio.VirtioNetState>("virtio-net", d => d.SaveState(), (d, s) => d.RestoreState(s));
        codecs.Register<Machine.Devices.Virtio.VirtioBalloon, Machine.Devices.Virtio.VirtioBalloonState>("virtio-balloon", d => d.SaveState(), (d, s) => d.RestoreState(s));
        codecs.Register<DebugExitDevice, DebugExitDeviceState>("debug-exit", d => d.SaveState(), (d, s) => d.RestoreState(s));
        codecs.Register<TestEchoPortDevice, TestEchoPortDeviceState>("test-echo-port", d => d.SaveState(), (d, s) => d.RestoreState(s));
        codecs.Register<TestEchoMemoryDevice, TestEchoMemoryDeviceState>("test-echo-memory", d => d.SaveState(), (d, s) => d.RestoreState(s));
        return codecs;
    }

    public void Register<TDevice, TState>(string kind, Func<TDevice, TState> save, Action<TDevice, TState> restore)
        where TDevice : class
    {
        var codec = new DeviceStateCodec(kind, typeof(TDevice),
            device => JsonSerializer.SerializeToElement(save((TDevice)device), SnapshotFormat.Json),
            (device, json) => restore((TDevice)device,
                json.Deserialize<TState>(SnapshotFormat.Json) ?? throw new JsonException($"empty {kind} state")));
        _byType[typeof(TDevice)] = codec;
        _byKind[kind] = codec;
    }

    public DeviceStateCodec? For(object device) => _byType.GetValueOrDefault(device.GetType());

    public DeviceStateCodec? For(string kind) => _byKind.GetValueOrDefault(kind);

    /// <summary>Each distinct device on the buses once, with the location of its first range (port or MMIO).</summary>
    public static IEnumerable<(string Location, IBusDevice Device, string Name)> DevicesOn(PortIoBus ports, MmioBus mmio)
    {
        var seen = new HashSet<IBusDevice>(ReferenceEqualityComparer.Instance);
        foreach (var m in ports.Mappings)
            if (seen.Add(m.Device)) yield return ($"port:0x{m.Base:x}", m.Device, m.DeviceName);
        foreach (var m in mmio.Mappings)
            if (seen.Add(m.Device)) yield return ($"mmio:0x{m.Base:x}", m.Device, m.DeviceName);
    }
}
