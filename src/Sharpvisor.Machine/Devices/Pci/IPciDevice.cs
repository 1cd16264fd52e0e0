namespace Sharpvisor.Machine.Devices.Pci;

/// <summary>
/// A function on the PCI bus, as configuration space sees it. The root calls these with <c>size</c> 1, 2 or 4 and an
/// <c>offset</c> in 0-255 that is a multiple of <c>size</c>; values are little-endian. Implementations usually delegate
/// to a <see cref="PciConfigSpace"/>.
/// </summary>
public interface IPciDevice
{
    uint ReadConfig(int offset, int size);
    void WriteConfig(int offset, int size, uint value);
}
