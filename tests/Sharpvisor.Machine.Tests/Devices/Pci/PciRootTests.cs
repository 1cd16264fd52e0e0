using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Devices.Pci;

namespace Sharpvisor.Machine.Tests.Devices.Pci;

public sealed class PciRootTests
{
    private sealed class TestDevice : IPciDevice
    {
        public PciConfigSpace Config { get; } = new(0x1AF4, 0x1042, 0x01_80_00, interruptPin: 1);
        public uint ReadConfig(int offset, int size) => Config.Read(offset, size);
        public void WriteConfig(int offset, int size, uint value) => Config.Write(offset, size, value);
    }

    private readonly PortIoBus _bus = new();
    private readonly PciRoot _root = new();

    public PciRootTests() => _bus.Register(PciRoot.ConfigAddressPort, PciRoot.PortCount, _root);

    private static uint Address(int device, int register, int function = 0, int bus = 0) =>
        PciRoot.ConfigAddressEnable | (uint)bus << 16 | (uint)device << 11 | (uint)function << 8 | (uint)register;

    private void OutL(ushort port, uint value) => _bus.Write(port, BitConverter.GetBytes(value));

    private uint InL(ushort port)
    {
        Span<byte> b = stackalloc byte[4];
        _bus.Read(port, b);
        return BitConverter.ToUInt32(b);
    }

    private ushort InW(ushort port)
    {
        Span<byte> b = stackalloc byte[2];
        _bus.Read(port, b);
        return BitConverter.ToUInt16(b);
    }

    private byte InB(ushort port)
    {
        Span<byte> b = stackalloc byte[1];
        _bus.Read(port, b);
        return b[0];
    }

    private uint ConfigRead(int device, int register)
    {
        OutL(0xCF8, Address(device, register));
        return InL(0xCFC);
    }

    private void ConfigWrite(int device, int register, uint value)
    {
        OutL(0xCF8, Address(device, register));
        OutL(0xCFC, value);
    }

    [Fact]
    public void LinuxType1ProbeSeesAWorkingConfigAddressRegister()
    {
        _bus.Write(0xCFB, [0x01]);                                   // not a config cycle: dropped
        uint saved = InL(0xCF8);
        OutL(0xCF8, 0x8000_0000);
        Assert.Equal(0x8000_0000u, InL(0xCF8));
        OutL(0xCF8, saved);
        Assert.Equal(0u, InL(0xCF8));
        Assert.Equal(0xFF, InB(0xCF9));                              // narrow reads of 0xCF8-0xCFB float
    }

    [Fact]
    public void ConfigAddressDropsReservedBits()
    {
        OutL(0xCF8, 0xFFFF_FFFF);
        Assert.Equal(0x80FF_FFFCu, InL(0xCF8));
        Assert.Equal(0x80FF_FFFCu, _root.ConfigAddress);
    }

    [Fact]
    public void HostBridgeSitsAtDeviceZero()
    {
        Assert.Equal((uint)PciHostBridge.BridgeDeviceId << 16 | PciHostBridge.BridgeVendorId, ConfigRead(0, 0x00));
        OutL(0xCF8, Address(0, 0x08));
        Assert.Equal(0x0600, InW(0xCFE));                            // Linux's sanity check reads the class here
        Assert.Equal(0x00, InB(0xCFD));
        Assert.Equal(0x0600_0000u, ConfigRead(0, 0x08));
        Assert.Equal(0u, ConfigRead(0, 0x0C) >> 16 & 0x7F);          // header type 0
    }

    [Fact]
    public void AbsentThingsReadAllOnes()
    {
        Assert.Equal(uint.MaxValue, ConfigRead(5, 0x00));            // empty slot
        OutL(0xCF8, Address(0, 0x00, function: 1));
        Assert.Equal(uint.MaxValue, InL(0xCFC));
        OutL(0xCF8, Address(0, 0x00, bus: 1));
        Assert.Equal(uint.MaxValue, InL(0xCFC));
        Assert.Equal(0xFFFF, InW(0xCFC));
        Assert.Equal(0xFF, InB(0xCFF));
        OutL(0xCF8, Address(0, 0x00) & ~PciRoot.ConfigAddressEnable);
        Assert.Equal(uint.MaxValue, InL(0xCFC));
    }

    [Fact]
    public void DataPortOffsetsPickBytesWithinTheDword()
    {
        OutL(0xCF8, Address(0, 0x00));
        Assert.Equal(PciHostBridge.BridgeVendorId, InW(0xCFC));
        Assert.Equal(PciHostBridge.BridgeDeviceId, InW(0xCFE));
        Assert.Equal(PciHostBridge.BridgeVendorId & 0xFF, InB(0xCFC));
        Assert.Equal((byte)(PciHostBridge.BridgeDeviceId >> 8), InB(0xCFF));
        // Unaligned: two bytes at 0xCFD are config bytes 1 and 2.
        Assert.Equal((ushort)(PciHostBridge.BridgeVendorId >> 8 | (PciHostBridge.BridgeDeviceId & 0xFF) << 8), InW(0xCFD));
        // Running off the end of 0xCFF reads ones for the part past it.
        Span<byte> b = stackalloc byte[4];
        _root.Read(7, b);
        Assert.Equal([(byte)(PciHostBridge.BridgeDeviceId >> 8), 0xFF, 0xFF, 0xFF], b.ToArray());
    }

    [Fact]
    public void ByteAndWordWritesLandAtTheRightOffset()
    {
        OutL(0xCF8, Address(0, 0x3C));
        _bus.Write(0xCFC, [0x0B]);                                   // interrupt line
        _bus.Write(0xCFD, [0x07]);                                   // interrupt pin: read-only
        Assert.Equal(0x0Bu, ConfigRead(0, 0x3C) & 0xFFFF);
        OutL(0xCF8, Address(0, 0x0C));
        _bus.Write(0xCFD, [0x20, 0x10]);                             // unaligned word: latency timer, header type (RO)
        Assert.Equal(0x0000_2000u, ConfigRead(0, 0x0C));
    }

    [Fact]
    public void DevicesTakeFreeSlotsInOrder()
    {
        var a = new TestDevice();
        var b = new TestDevice();
        Assert.Equal(1, _root.AddDevice(a));
        Assert.Equal(7, _root.AddDevice(b, slot: 7));
        Assert.Equal(2, _root.AddDevice(new TestDevice()));
        Assert.Same(b, _root.GetDevice(7));
        Assert.Same(_root.HostBridge, _root.GetDevice(0));
        Assert.Throws<InvalidOperationException>(() => _root.AddDevice(new TestDevice(), slot: 7));
        Assert.Equal(0x1042_1AF4u, ConfigRead(7, 0x00));
        for (int i = 3; i < PciRoot.SlotCount; i++)
            if (_root.GetDevice(i) is null) _root.AddDevice(new TestDevice());
        Assert.Throws<InvalidOperationException>(() => _root.AddDevice(new TestDevice()));
    }

    [Fact]
    public void BarSizingAndProgrammingThroughThePorts()
    {
        var device = new TestDevice();
        device.Config.DefineBar(0, PciBarKind.Memory32, 0x4000);
        device.Config.DefineBar(2, PciBarKind.Memory64, 0x10_0000, prefetchable: true);
        var changes = new List<PciBarMappingChange>();
        device.Config.BarMappingChanged += changes.Add;
        int slot = _root.AddDevice(device);

        ConfigWrite(slot, 0x04, 0);
        ConfigWrite(slot, 0x10, 0xFFFF_FFFF);
        Assert.Equal(0xFFFF_C000u, ConfigRead(slot, 0x10));
        ConfigWrite(slot, 0x18, 0xFFFF_FFFF);
        ConfigWrite(slot, 0x1C, 0xFFFF_FFFF);
        Assert.Equal(0xFFF0_000Cu, ConfigRead(slot, 0x18));
        Assert.Equal(0xFFFF_FFFFu, ConfigRead(slot, 0x1C));
        ConfigWrite(slot, 0x10, 0xC000_0000);
        ConfigWrite(slot, 0x18, 0x0000_0000);
        ConfigWrite(slot, 0x1C, 0x0000_0001);
        Assert.Empty(changes);
        ConfigWrite(slot, 0x04, PciConfigSpace.CommandMemorySpace | PciConfigSpace.CommandBusMaster);
        Assert.Equal(
            [
                new PciBarMappingChange(0, PciBarKind.Memory32, 0x4000, null, 0xC000_0000),
                new PciBarMappingChange(2, PciBarKind.Memory64, 0x10_0000, null, 0x1_0000_0000),
            ], changes);
        Assert.True(device.Config.BusMasterEnabled);
    }

    [Fact]
    public void SavedStateRestoresTheConfigAddress()
    {
        OutL(0xCF8, Address(3, 0x10));
        var state = _root.SaveState();
        var copy = new PciRoot();
        copy.RestoreState(state);
        Assert.Equal(Address(3, 0x10), copy.ConfigAddress);
    }

    [Fact]
    public void HostBridgeStateRoundTrips()
    {
        ConfigWrite(0, 0x3C, 0x0000_0009);
        var state = _root.HostBridge.SaveState();
        var copy = new PciRoot();
        copy.HostBridge.RestoreState(state);
        Assert.Equal(9u, copy.HostBridge.ReadConfig(0x3C, 1));
    }
}
