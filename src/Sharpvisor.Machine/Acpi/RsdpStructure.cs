using System.Buffers.Binary;
using System.Text;

namespace Sharpvisor.Machine.Acpi;

/// <summary>
/// The Root System Description Pointer, revision 2 (ACPI 6.x 5.2.5.3): 36 bytes with a checksum over the first 20
/// (the ACPI 1.0 part) and an extended checksum over all of it.
/// </summary>
public static class RsdpStructure
{
    public const int Length = 36;
    public const int V1Length = 20;
    public const byte Revision = 2;
    public const int ChecksumOffset = 8, RevisionOffset = 15, RsdtAddressOffset = 16, LengthOffset = 20,
        XsdtAddressOffset = 24, ExtendedChecksumOffset = 32;

    public static byte[] Build(uint rsdtAddress, ulong xsdtAddress)
    {
        var r = new byte[Length];
        Encoding.ASCII.GetBytes("RSD PTR ", r.AsSpan(0, 8));
        Encoding.ASCII.GetBytes(AcpiTableEncoding.OemId, r.AsSpan(9, 6));
        r[RevisionOffset] = Revision;
        BinaryPrimitives.WriteUInt32LittleEndian(r.AsSpan(RsdtAddressOffset), rsdtAddress);
        BinaryPrimitives.WriteUInt32LittleEndian(r.AsSpan(LengthOffset), Length);
        BinaryPrimitives.WriteUInt64LittleEndian(r.AsSpan(XsdtAddressOffset), xsdtAddress);
        r[ChecksumOffset] = AcpiChecksum.Compute(r.AsSpan(0, V1Length));
        r[ExtendedChecksumOffset] = AcpiChecksum.Compute(r);
        return r;
    }
}
