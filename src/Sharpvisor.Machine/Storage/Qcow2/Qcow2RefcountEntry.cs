using System.Buffers.Binary;

namespace Sharpvisor.Machine.Storage.Qcow2;

/// <summary>
/// One refcount in a refcount block, for every width qcow2 allows (refcount_order 0..6: 1 to 64 bits). Widths of a
/// byte or more are big-endian; narrower ones are packed into bytes from the least significant bit up (entry i of
/// width w sits at bits (i * w) % 8 of byte (i * w) / 8, as QEMU packs them).
/// </summary>
internal static class Qcow2RefcountEntry
{
    public static ulong Read(ReadOnlySpan<byte> block, ulong slot, int order)
    {
        int bits = 1 << order;
        if (bits < 8)
        {
            ulong bit = slot * (ulong)bits;
            return (ulong)(block[(int)(bit / 8)] >> (int)(bit % 8)) & ((1UL << bits) - 1);
        }
        var at = block.Slice((int)slot * (bits / 8), bits / 8);
        return bits switch
        {
            8 => at[0],
            16 => BinaryPrimitives.ReadUInt16BigEndian(at),
            32 => BinaryPrimitives.ReadUInt32BigEndian(at),
            _ => BinaryPrimitives.ReadUInt64BigEndian(at),
        };
    }

    /// <summary>Sets the entry; returns the byte range of the block that changed (to write to the file).</summary>
    public static (int Start, int Length) Write(Span<byte> block, ulong slot, int order, ulong value)
    {
        int bits = 1 << order;
        if (bits < 64 && value >> bits != 0) throw new IOException($"qcow2: refcount {value} overflows its {bits} bits");
        if (bits < 8)
        {
            ulong bit = slot * (ulong)bits;
            int index = (int)(bit / 8), shift = (int)(bit % 8);
            int mask = ((1 << bits) - 1) << shift;
            block[index] = (byte)((block[index] & ~mask) | ((int)value << shift));
            return (index, 1);
        }
        int bytes = bits / 8, start = (int)slot * bytes;
        var at = block.Slice(start, bytes);
        switch (bits)
        {
            case 8: at[0] = (byte)value; break;
            case 16: BinaryPrimitives.WriteUInt16BigEndian(at, (ushort)value); break;
            case 32: BinaryPrimitives.WriteUInt32BigEndian(at, (uint)value); break;
            default: BinaryPrimitives.WriteUInt64BigEndian(at, value); break;
        }
        return (start, bytes);
    }

    /// <summary>Refcounts one cluster-sized block holds.</summary>
    public static ulong PerBlock(ulong clusterSize, int order) => clusterSize * 8 >> order;

    /// <summary>The largest refcount the width holds.</summary>
    public static ulong Max(int order) => order == 6 ? ulong.MaxValue : (1UL << (1 << order)) - 1;
}
