using System.Buffers.Binary;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Machine.Acpi;

/// <summary>
/// The System Locality Information Table ("SLIT", ACPI 6.x 5.2.17): the relative distance between every two
/// proximity domains, as an N x N byte matrix (10 on the diagonal).
/// </summary>
public static class SlitTable
{
    public const string Signature = "SLIT";
    public const byte Revision = 1;

    public static byte[] Build(int nodeCount)
    {
        var body = new byte[8 + nodeCount * nodeCount];
        BinaryPrimitives.WriteUInt64LittleEndian(body, (ulong)nodeCount);
        for (int from = 0; from < nodeCount; from++)
            for (int to = 0; to < nodeCount; to++)
                body[8 + from * nodeCount + to] = from == to ? NumaNode.LocalDistance : NumaNode.RemoteDistance;
        return AcpiTableEncoding.CreateTable(Signature, Revision, body);
    }
}
