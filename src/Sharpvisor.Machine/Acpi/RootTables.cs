using System.Buffers.Binary;

namespace Sharpvisor.Machine.Acpi;

/// <summary>The XSDT (64-bit pointers) and RSDT (32-bit pointers) listing every table but the DSDT.</summary>
public static class RootTables
{
    public const byte Revision = 1;

    public static byte[] BuildXsdt(IReadOnlyList<ulong> tableAddresses)
    {
        var body = new byte[8 * tableAddresses.Count];
        for (int i = 0; i < tableAddresses.Count; i++)
            BinaryPrimitives.WriteUInt64LittleEndian(body.AsSpan(8 * i), tableAddresses[i]);
        return AcpiTableEncoding.CreateTable("XSDT", Revision, body);
    }

    public static byte[] BuildRsdt(IReadOnlyList<ulong> tableAddresses)
    {
        var body = new byte[4 * tableAddresses.Count];
        for (int i = 0; i < tableAddresses.Count; i++)
        {
            if (tableAddresses[i] > uint.MaxValue)
                throw new ArgumentException($"table at 0x{tableAddresses[i]:x} is out of the RSDT's 32-bit reach");
            BinaryPrimitives.WriteUInt32LittleEndian(body.AsSpan(4 * i), (uint)tableAddresses[i]);
        }
        return AcpiTableEncoding.CreateTable("RSDT", Revision, body);
    }
}
