using Sharpvisor.Machine.Devices.Input;
using Sharpvisor.Machine.Devices.Interrupts;
using Sharpvisor.Machine.Devices.Pci;
using Sharpvisor.Machine.Devices.Power;
using Sharpvisor.Machine.Devices.Rtc;
using Sharpvisor.Machine.Devices.Serial;
using Sharpvisor.Machine.Devices.State;
using Sharpvisor.Machine.Devices.Testing;
using Sharpvisor.Machine.Devices.Virtio;

namespace Sharpvisor.Vmm.Snapshots;

/// <summary>
/// Which device types a snapshot or a migration can carry, by kind (the name stored with each record). A new device
/// implements <see cref="IStatefulDevice{TState}"/> and adds one line to <see cref="CreateDefault"/>; a machine holding
/// a device that is not registered cannot be saved (the error names it), rather than being saved without it.
/// </summary>
public sealed class DeviceStateRegistry
{
    private readonly Dictionary<Type, DeviceStateCodec> _byType = [];
    private readonly Dictionary<string, DeviceStateCodec> _byKind = [];

    public static DeviceStateRegistry Default { get; } = CreateDefault();

    private static DeviceStateRegistry CreateDefault() => new DeviceStateRegistry()
        .Register<Uart16550, Uart16550State>("uart16550")
        .Register<I8042Controller, I8042ControllerState>("i8042")
        .Register<CmosRtc, CmosRtcState>("cmos-rtc")
        .Register<PciRoot, PciRootState>("pci-root")
        .Register<AcpiPowerDevice, AcpiPowerDeviceState>("acpi-power")
        .Register<AcpiGenericEventDevice, AcpiGenericEventDeviceState>("acpi-ged")
        .Register<IoApic, IoApicState>("ioapic", engineOwned: true)
        .Register<VirtioPciDevice, VirtioPciDeviceState>("virtio-pci")
        .Register<VirtioNet, VirtioNetState>("virtio-net")
        .Register<VirtioBalloon, VirtioBalloonState>("virtio-balloon")
        .Register<VirtioVsock, VirtioVsockState>("virtio-vsock")
        .Register<DebugExitDevice, DebugExitDeviceState>("debug-exit")
        .Register<TestEchoPortDevice, TestEchoPortDeviceState>("test-echo-port")
        .Register<TestEchoMemoryDevice, TestEchoMemoryDeviceState>("test-echo-memory");

    public IEnumerable<DeviceStateCodec> Codecs => _byKind.Values;

    public DeviceStateRegistry Register<TDevice, TState>(string kind, bool engineOwned = false)
        where TDevice : class, IStatefulDevice<TState>
        where TState : class, IDeviceState
        => Register(new DeviceStateCodec<TDevice, TState>(kind, engineOwned));

    /// <summary>A codec of its own making (a test's that observes saves, say); kinds and device types stay unique.</summary>
    public DeviceStateRegistry Register(DeviceStateCodec codec)
    {
        if (_byKind.ContainsKey(codec.Kind) || _byType.ContainsKey(codec.DeviceType))
            throw new ArgumentException($"device state kind {codec.Kind} ({codec.DeviceType.Name}) is registered twice", nameof(codec));
        _byType[codec.DeviceType] = codec;
        _byKind[codec.Kind] = codec;
        return this;
    }

    public DeviceStateCodec? For(object device) => _byType.GetValueOrDefault(device.GetType());

    public DeviceStateCodec? For(string kind) => _byKind.GetValueOrDefault(kind);
}
