namespace Sharpvisor.Machine.Devices.Pci;

/// <summary>What a base address register decodes: I/O ports, or memory below 4 GiB, or memory anywhere (two BAR slots).</summary>
public enum PciBarKind
{
    Io,
    Memory32,
    Memory64,
}
