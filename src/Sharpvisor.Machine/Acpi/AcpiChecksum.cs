namespace Sharpvisor.Machine.Acpi;

/// <summary>ACPI's 8-bit checksum: all bytes of a structure, checksum included, add up to zero.</summary>
public static class AcpiChecksum
{
    /// <summary>The byte that makes <paramref name="data"/> sum to zero when its checksum byte is currently zero.</summary>
    public static byte Compute(ReadOnlySpan<byte> data) => (byte)(0x100 - Sum(data));

    public static bool IsValid(ReadOnlySpan<byte> data) => Sum(data) == 0;

    private static byte Sum(ReadOnlySpan<byte> data)
    {
        byte sum = 0;
        foreach (byte b in data) sum += b;
        return sum;
    }
}
