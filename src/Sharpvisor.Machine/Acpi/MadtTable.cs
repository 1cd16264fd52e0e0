using System.Buffers.Binary;

namespace Sharpvisor.Machine.Acpi;

/// <summary>
/// The Multiple APIC Description Table ("APIC", ACPI 6.x 5.2.12): the local APIC address, one enabled processor
/// entry per vCPU (Processor Local APIC, or Processor Local x2APIC where an id or UID does not fit in a byte), the
/// I/O APIC, interrupt source overrides, and local APIC NMI on LINT1 for all processors.
/// </summary>
public static class MadtTable
{
    public const string Signature = "APIC";
    public const byte Revision = 5;                    // ACPI 6.3
    public const uint FlagPcatCompat = 1;              // a dual 8259 PIC is present as well
    public const byte TypeLocalApic = 0, TypeIoApic = 1, TypeInterruptSourceOverride = 2, TypeLocalApicNmi = 4,
        TypeLocalX2Apic = 9, TypeLocalX2ApicNmi = 0x0A;
    public const uint LocalApicEnabled = 1;
    public const byte NmiLint = 1;

    public static byte[] Build(IReadOnlyList<uint> localApicIds, uint localApicAddress, IoApicDescription ioApic,
        IReadOnlyList<InterruptSourceOverride> overrides, bool dual8259Present)
    {
        if (localApicIds.Count == 0) throw new ArgumentException("a machine needs at least one processor", nameof(localApicIds));
        if (localApicIds.Distinct().Count() != localApicIds.Count)
            throw new ArgumentException("local APIC ids must be unique", nameof(localApicIds));
        if (overrides.Select(o => o.IsaIrq).Distinct().Count() != overrides.Count)
            throw new ArgumentException("at most one interrupt source override per ISA IRQ", nameof(overrides));

        var body = new List<byte>();
        Span<byte> b = stackalloc byte[16];

        BinaryPrimitives.WriteUInt32LittleEndian(b, localApicAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], dual8259Present ? FlagPcatCompat : 0);
        body.AddRange(b[..8]);

        bool anyX2Apic = false;
        for (int uid = 0; uid < localApicIds.Count; uid++)
        {
            uint apicId = localApicIds[uid];
            // 0xFF is the broadcast id and 0xFF as a UID means "all processors" in the NMI entry.
            if (apicId < 0xFF && uid < 0xFF)
            {
                b[..8].Clear();
                b[0] = TypeLocalApic;
                b[1] = 8;
                b[2] = (byte)uid;
                b[3] = (byte)apicId;
                BinaryPrimitives.WriteUInt32LittleEndian(b[4..], LocalApicEnabled);
                body.AddRange(b[..8]);
            }
            else
            {
                anyX2Apic = true;
                b.Clear();
                b[0] = TypeLocalX2Apic;
                b[1] = 16;
                BinaryPrimitives.WriteUInt32LittleEndian(b[4..], apicId);
                BinaryPrimitives.WriteUInt32LittleEndian(b[8..], LocalApicEnabled);
                BinaryPrimitives.WriteUInt32LittleEndian(b[12..], (uint)uid);
                body.AddRange(b);
            }
        }

        b[..12].Clear();
        b[0] = TypeIoApic;
        b[1] = 12;
        b[2] = ioApic.Id;
        BinaryPrimitives.WriteUInt32LittleEndian(b[4..], ioApic.Address);
        BinaryPrimitives.WriteUInt32LittleEndian(b[8..], ioApic.GsiBase);
        body.AddRange(b[..12]);

        foreach (var o in overrides)
        {
            b[..10].Clear();
            b[0] = TypeInterruptSourceOverride;
            b[1] = 10;
            b[2] = 0;                                  // bus: ISA
            b[3] = o.IsaIrq;
            BinaryPrimitives.WriteUInt32LittleEndian(b[4..], o.Gsi);
            BinaryPrimitives.WriteUInt16LittleEndian(b[8..], o.Flags);
            body.AddRange(b[..10]);
        }

        b[..6].Clear();
        b[0] = TypeLocalApicNmi;
        b[1] = 6;
        b[2] = 0xFF;                                   // all processors
        BinaryPrimitives.WriteUInt16LittleEndian(b[3..], 0);
        b[5] = NmiLint;
        body.AddRange(b[..6]);

        if (anyX2Apic)
        {
            b[..12].Clear();
            b[0] = TypeLocalX2ApicNmi;
            b[1] = 12;
            BinaryPrimitives.WriteUInt16LittleEndian(b[2..], 0);
            BinaryPrimitives.WriteUInt32LittleEndian(b[4..], 0xFFFF_FFFF);   // all processors
            b[8] = NmiLint;
            body.AddRange(b[..12]);
        }

        return AcpiTableEncoding.CreateTable(Signature, Revision, body.ToArray());
    }
}
