using System.Buffers.Binary;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Machine.Acpi;

/// <summary>
/// The System Resource Affinity Table ("SRAT", ACPI 6.x 5.2.16): which proximity domain (guest NUMA node) each
/// processor and each range of RAM belongs to. Node i is proximity domain i.
/// </summary>
public static class SratTable
{
    public const string Signature = "SRAT";
    public const byte Revision = 3;
    public const byte TypeProcessorApic = 0, TypeMemory = 1, TypeProcessorX2Apic = 2;
    public const uint FlagEnabled = 1;

    /// <param name="localApicIds">The local APIC id of each vCPU, by vCPU index.</param>
    public static byte[] Build(IReadOnlyList<NumaNode> nodes, IReadOnlyList<uint> localApicIds)
    {
        var body = new List<byte>();
        Span<byte> e = stackalloc byte[40];
        // Table revision field ("reserved, must be 1" for compatibility) and 8 reserved bytes.
        e[..12].Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(e, 1);
        body.AddRange(e[..12]);
        for (int domain = 0; domain < nodes.Count; domain++)
        {
            foreach (int vcpu in nodes[domain].Vcpus)
            {
                uint apicId = localApicIds[vcpu];
                if (apicId < 0xFF)
                {
                    e[..16].Clear();
                    e[0] = TypeProcessorApic;
                    e[1] = 16;
                    e[2] = (byte)domain;                                   // proximity domain bits 7:0
                    e[3] = (byte)apicId;
                    BinaryPrimitives.WriteUInt32LittleEndian(e[4..], FlagEnabled);
                    e[9] = (byte)(domain >> 8); e[10] = (byte)(domain >> 16); e[11] = (byte)(domain >> 24);
                    body.AddRange(e[..16]);
                }
                else
                {
                    e[..24].Clear();
                    e[0] = TypeProcessorX2Apic;
                    e[1] = 24;
                    BinaryPrimitives.WriteUInt32LittleEndian(e[4..], (uint)domain);
                    BinaryPrimitives.WriteUInt32LittleEndian(e[8..], apicId);
                    BinaryPrimitives.WriteUInt32LittleEndian(e[12..], FlagEnabled);
                    body.AddRange(e[..24]);
                }
            }
        }
        var ranges = NumaNode.Ranges(nodes);
        for (int domain = 0; domain < nodes.Count; domain++)
            foreach (var (start, size) in ranges[domain])
            {
                e.Clear();
                e[0] = TypeMemory;
                e[1] = 40;
                BinaryPrimitives.WriteUInt32LittleEndian(e[2..], (uint)domain);
                BinaryPrimitives.WriteUInt64LittleEndian(e[8..], start);       // base, low then high dword
                BinaryPrimitives.WriteUInt64LittleEndian(e[16..], size);       // length, low then high dword
                BinaryPrimitives.WriteUInt32LittleEndian(e[28..], FlagEnabled);
                body.AddRange(e);
            }
        return AcpiTableEncoding.CreateTable(Signature, Revision, body.ToArray());
    }
}
