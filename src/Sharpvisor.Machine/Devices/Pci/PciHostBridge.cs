namespace Sharpvisor.Machine.Devices.Pci;

/// <summary>
/// Device 0 on bus 0: the host bridge, class 0x060000. It has no BARs and no interrupt; it is there because guests
/// (Linux's type-1 sanity check among them) expect to find a host bridge at 00:00.0.
/// <para>
/// It identifies as 1b36:0008, Red Hat's ID for a generic host bridge of virtual machines: not an Intel chipset, so
/// no guest applies chipset quirks (SMRAM, PAM registers, ...) that would need emulating.
/// </para>
/// </summary>
public sealed class PciHostBridge : IPciDevice
{
    public const ushort BridgeVendorId = 0x1B36;
    public const ushort BridgeDeviceId = 0x0008;
    public const uint BridgeClassCode = 0x06_00_00;

    public PciConfigSpace ConfigSpace { get; } = new(BridgeVendorId, BridgeDeviceId, BridgeClassCode);

    public uint ReadConfig(int offset, int size) => ConfigSpace.Read(offset, size);
    public void WriteConfig(int offset, int size, uint value) => ConfigSpace.Write(offset, size, value);

    public PciConfigSpaceState SaveState() => ConfigSpace.SaveState();
    public void RestoreState(PciConfigSpaceState state) => ConfigSpace.RestoreState(state);
}
