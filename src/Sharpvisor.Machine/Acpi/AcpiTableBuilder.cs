using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Machine.Acpi;

/// <summary>
/// Builds the ACPI tables of our x86 machine (RSDP, XSDT, RSDT, FADT, MADT, DSDT; SRAT and SLIT with NUMA nodes) for a given set of vCPUs and
/// devices, and writes them to guest memory at <see cref="X86MemoryLayout.AcpiTablesAddress"/>, where an OS that
/// scans for the RSDP (0xE0000-0xFFFFF, 16-byte aligned) finds it too.
/// </summary>
public sealed class AcpiTableBuilder
{
    public const string RsdpSignature = "RSD PTR ";
    private const ulong Alignment = 16;

    /// <param name="localApicIds">One local APIC id per vCPU, in vCPU order; vCPU i gets ACPI processor UID i.</param>
    public AcpiTableBuilder(IReadOnlyList<uint> localApicIds)
    {
        if (localApicIds.Count == 0) throw new ArgumentException("a machine needs at least one vCPU", nameof(localApicIds));
        LocalApicIds = localApicIds.ToArray();
    }

    public IReadOnlyList<uint> LocalApicIds { get; }
    public IoApicDescription IoApic { get; init; } = new();
    public HardwareReducedRegisters PowerRegisters { get; init; } = new();
    public SerialPortDescription Com1 { get; init; } = new();
    public PciHostBridgeDescription PciHostBridge { get; init; } = new();
    public KeyboardControllerDescription KeyboardController { get; init; } = new();
    public GenericEventDeviceDescription GenericEventDevice { get; init; } = new();
    public IReadOnlyList<InterruptSourceOverride> InterruptSourceOverrides { get; init; } = [InterruptSourceOverride.TimerToGsi2];
    public uint LocalApicAddress { get; init; } = (uint)X86MemoryLayout.LocalApicAddress;
    /// <summary>Whether the machine has a dual 8259 PIC (MADT PCAT_COMPAT).</summary>
    public bool Dual8259Present { get; init; }
    public ushort BootArchitectureFlags { get; init; } = FadtTable.DefaultBootArchitecture;
    /// <summary>Guest NUMA nodes (validated by the caller); with any, the SRAT and SLIT describe them.</summary>
    public IReadOnlyList<NumaNode> NumaNodes { get; init; } = [];

    /// <summary>Builds every table with its final address; writes nothing.</summary>
    public AcpiTables Build()
    {
        byte[] dsdt = DsdtTable.Build(PowerRegisters, PciHostBridge, Com1, KeyboardController, GenericEventDevice);
        byte[] madt = MadtTable.Build(LocalApicIds, LocalApicAddress, IoApic, InterruptSourceOverrides, Dual8259Present);
        byte[][] numa = NumaNodes.Count == 0 ? [] : [SratTable.Build(NumaNodes, LocalApicIds), SlitTable.Build(NumaNodes.Count)];
        ulong pointerTableCount = 2 + (ulong)numa.Length;        // FADT, MADT, and SRAT and SLIT with NUMA nodes

        ulong rsdpAddress = X86MemoryLayout.AcpiTablesAddress;
        ulong xsdtAddress = Align(rsdpAddress + RsdpStructure.Length);
        ulong rsdtAddress = Align(xsdtAddress + (ulong)AcpiTableEncoding.HeaderLength + 8 * pointerTableCount);
        ulong fadtAddress = Align(rsdtAddress + (ulong)AcpiTableEncoding.HeaderLength + 4 * pointerTableCount);
        ulong madtAddress = Align(fadtAddress + FadtTable.Length);
        var numaAddresses = new ulong[numa.Length];
        ulong next = Align(madtAddress + (ulong)madt.Length);
        for (int i = 0; i < numa.Length; i++)
        {
            numaAddresses[i] = next;
            next = Align(next + (ulong)numa[i].Length);
        }
        ulong dsdtAddress = next;
        ulong end = dsdtAddress + (ulong)dsdt.Length;
        if (end > X86MemoryLayout.AcpiTablesEnd)
            throw new InvalidOperationException(
                $"the ACPI tables need 0x{end - rsdpAddress:x} bytes, more than fit between " +
                $"0x{X86MemoryLayout.AcpiTablesAddress:x} and 0x{X86MemoryLayout.AcpiTablesEnd:x} ({LocalApicIds.Count} vCPUs)");

        byte[] fadt = FadtTable.Build(dsdtAddress, PowerRegisters, BootArchitectureFlags);
        ulong[] pointed = [fadtAddress, madtAddress, .. numaAddresses];
        byte[] xsdt = RootTables.BuildXsdt(pointed);
        byte[] rsdt = RootTables.BuildRsdt(pointed);
        byte[] rsdp = RsdpStructure.Build((uint)rsdtAddress, xsdtAddress);

        return new AcpiTables(rsdpAddress,
        [
            new(RsdpSignature, rsdpAddress, rsdp),
            new("XSDT", xsdtAddress, xsdt),
            new("RSDT", rsdtAddress, rsdt),
            new(FadtTable.Signature, fadtAddress, fadt),
            new(MadtTable.Signature, madtAddress, madt),
            .. numa.Select((bytes, i) => new AcpiTableImage(i == 0 ? SratTable.Signature : SlitTable.Signature, numaAddresses[i], bytes)),
            new(DsdtTable.Signature, dsdtAddress, dsdt),
        ]);
    }

    /// <summary>Builds the tables and writes them into guest memory; the whole ACPI area is cleared first.</summary>
    public AcpiTables WriteTo(GuestMemory memory)
    {
        AcpiTables tables = Build();
        memory.Write(X86MemoryLayout.AcpiTablesAddress,
            new byte[X86MemoryLayout.AcpiTablesEnd - X86MemoryLayout.AcpiTablesAddress]);
        foreach (var table in tables.Tables)
            memory.Write(table.Address, table.Bytes);
        return tables;
    }

    private static ulong Align(ulong address) => (address + Alignment - 1) & ~(Alignment - 1);
}
