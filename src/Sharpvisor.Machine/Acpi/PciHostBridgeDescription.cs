using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Machine.Acpi;

/// <summary>
/// The PCI host bridge (\_SB.PCI0) as the DSDT declares it: configuration mechanism #1 on ports 0xCF8-0xCFF, the
/// bus range, and the I/O and memory windows PCI devices may be given BARs in. Ends are inclusive except
/// <see cref="MmioWindowEnd"/>, which is exclusive like the memory layout constants it defaults to.
/// </summary>
public sealed record PciHostBridgeDescription
{
    public ushort ConfigPort { get; init; } = 0xCF8;
    public byte ConfigPortLength { get; init; } = 8;
    public byte Segment { get; init; }
    public byte FirstBus { get; init; }
    public byte LastBus { get; init; }
    public ushort IoWindowFirst { get; init; } = 0x1000;
    public ushort IoWindowLast { get; init; } = 0xFFFF;
    public ulong MmioWindowStart { get; init; } = X86MemoryLayout.PciMmioStart;
    public ulong MmioWindowEnd { get; init; } = X86MemoryLayout.PciMmioEnd;
    /// <summary>An optional window above 4 GiB for 64-bit BARs (start, exclusive end).</summary>
    public (ulong Start, ulong End)? Mmio64Window { get; init; }
}
