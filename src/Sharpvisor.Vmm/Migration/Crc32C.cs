using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Sharpvisor.Vmm.Migration;

/// <summary>
/// CRC-32C (Castagnoli), as iSCSI and ext4 use it, on the CPU's crc32 instruction where there is one: the migration
/// stream's per-section check. It catches a damaged or misframed section; it is not a defence against a forger
/// (nor was a plain SHA-256 of the section, which anyone can recompute), and it costs a fraction of SHA-256 per byte.
/// </summary>
internal static class Crc32C
{
    public const uint Initial = 0xFFFF_FFFF;

    /// <summary>Continues <paramref name="crc"/> (start from <see cref="Initial"/>) over <paramref name="data"/>.</summary>
    public static uint Append(uint crc, ReadOnlySpan<byte> data)
    {
        var words = MemoryMarshal.Cast<byte, ulong>(data);
        foreach (ulong word in words) crc = BitOperations.Crc32C(crc, BitConverter.IsLittleEndian ? word : BinaryPrimitives.ReverseEndianness(word));
        foreach (byte b in data[(words.Length * 8)..]) crc = BitOperations.Crc32C(crc, b);
        return crc;
    }

    /// <summary>The finished checksum of what <see cref="Append"/> went over.</summary>
    public static uint Finish(uint crc) => ~crc;
}
