using System.Buffers.Binary;
using System.Text;

namespace Sharpvisor.Machine.Acpi;

/// <summary>
/// The 36-byte System Description Table header every ACPI table but the RSDP starts with (ACPI 6.x 5.2.6), and the
/// identity we put in it.
/// </summary>
public static class AcpiTableEncoding
{
    public const int HeaderLength = 36;
    public const int ChecksumOffset = 9;
    public const string OemId = "SHRPVS";
    public const string OemTableId = "SHARPVSR";
    public const uint OemRevision = 1;
    public const string CreatorId = "SHVR";
    public const uint CreatorRevision = 1;

    /// <summary>A complete table: header (signature, length, revision, OEM and creator fields), body, checksum.</summary>
    public static byte[] CreateTable(string signature, byte revision, ReadOnlySpan<byte> body)
    {
        if (signature.Length != 4) throw new ArgumentException("an ACPI table signature has 4 characters", nameof(signature));
        var table = new byte[HeaderLength + body.Length];
        Encoding.ASCII.GetBytes(signature, table.AsSpan(0, 4));
        BinaryPrimitives.WriteUInt32LittleEndian(table.AsSpan(4), (uint)table.Length);
        table[8] = revision;
        Encoding.ASCII.GetBytes(OemId, table.AsSpan(10, 6));
        Encoding.ASCII.GetBytes(OemTableId, table.AsSpan(16, 8));
        BinaryPrimitives.WriteUInt32LittleEndian(table.AsSpan(24), OemRevision);
        Encoding.ASCII.GetBytes(CreatorId, table.AsSpan(28, 4));
        BinaryPrimitives.WriteUInt32LittleEndian(table.AsSpan(32), CreatorRevision);
        body.CopyTo(table.AsSpan(HeaderLength));
        table[ChecksumOffset] = AcpiChecksum.Compute(table);
        return table;
    }
}
