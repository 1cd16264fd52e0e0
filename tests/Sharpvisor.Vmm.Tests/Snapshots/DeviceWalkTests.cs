using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Devices.Input;
using Sharpvisor.Machine.Devices.Pci;
using Sharpvisor.Machine.Devices.Rtc;
using Sharpvisor.Machine.Devices.State;
using Sharpvisor.Vmm.Snapshots;

namespace Sharpvisor.Vmm.Tests.Snapshots;

/// <summary>The keys a machine's devices are saved under come from the devices, whatever bus ranges they occupy.</summary>
public sealed class DeviceWalkTests
{
    private readonly PortIoBus _ports = new();
    private readonly MmioBus _mmio = new();
    private readonly PciRoot _pci = new();
    private readonly Function _function = new();

    public DeviceWalkTests()
    {
        new I8042Controller(() => { }).Attach(_ports);
        _ports.Register(CmosRtc.IndexPort, CmosRtc.PortCount, new CmosRtc(64UL << 20), "CMOS");
        _ports.Register(PciRoot.ConfigAddressPort, PciRoot.PortCount, _pci, "PCI");
        _pci.AddDevice(_function);
    }

    private IEnumerable<string> Keys() => DeviceWalk.On(_ports, _mmio).Select(s => s.Key);

    [Fact]
    public void Each_device_is_found_once_by_its_own_key_and_parts_follow_their_parent()
    {
        Assert.Equal(["cmos-rtc", "pci", "pci/function", "pci/function/model", "i8042"], Keys());
    }

    [Fact]
    public void A_part_mapped_on_a_bus_keeps_its_key_under_its_parent()
    {
        _mmio.Register(0xE000_0000, 0x1000, new Window(_function), "function BAR 0");
        Assert.Equal(["cmos-rtc", "pci", "pci/function", "pci/function/model", "i8042"], Keys());
    }

    [Fact]
    public void A_device_without_state_is_listed_by_where_it_is_so_saving_it_can_name_it()
    {
        _mmio.Register(0xE000_0000, 0x1000, new Window(new object()), "mystery");
        Assert.Contains("mystery at 0xe0000000", Keys());
    }

    [Fact]
    public void Two_devices_with_one_key_are_refused()
    {
        _ports.Register(0x170, CmosRtc.PortCount, new CmosRtc(64UL << 20), "another CMOS");
        Assert.Contains("two devices have the state key cmos-rtc", Assert.Throws<SnapshotException>(() => Keys()).Message);
    }

    private sealed class Function : IPciDevice, IStatefulDevice
    {
        public string StateKey => "function";
        public IEnumerable<object> StateParts => [new Model()];
        public uint ReadConfig(int offset, int size) => 0;
        public void WriteConfig(int offset, int size, uint value) { }
    }

    private sealed class Model : IStatefulDevice
    {
        public string StateKey => "model";
    }

    private sealed class Window(object owner) : IBusWindow
    {
        public object Owner => owner;
        public void Read(ulong offset, Span<byte> data) { }
        public void Write(ulong offset, ReadOnlySpan<byte> data) { }
    }
}
