namespace Sharpvisor.Machine.Devices.Pci;

/// <summary>
/// A BAR's window appeared, moved or disappeared: the device's owner unmaps <see cref="OldAddress"/> (if any) and maps
/// <see cref="NewAddress"/> (if any) on the MMIO bus, or the port bus for <see cref="PciBarKind.Io"/>.
/// </summary>
public readonly record struct PciBarMappingChange(int BarIndex, PciBarKind Kind, ulong Size, ulong? OldAddress, ulong? NewAddress);
