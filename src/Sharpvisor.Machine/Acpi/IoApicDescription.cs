using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Machine.Acpi;

/// <summary>The I/O APIC as the MADT announces it: its APIC id, MMIO base and first global system interrupt.</summary>
public sealed record IoApicDescription(byte Id = 0, uint Address = (uint)X86MemoryLayout.IoApicAddress, uint GsiBase = 0);
