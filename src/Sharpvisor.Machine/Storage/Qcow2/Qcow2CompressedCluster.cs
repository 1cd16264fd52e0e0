using System.IO.Compression;

namespace Sharpvisor.Machine.Storage.Qcow2;

/// <summary>
/// Reads compressed clusters (compression type 0: raw deflate; type 1: a zstd stream), keeping the last one
/// decompressed, since guests read a cluster in several requests. The host range an entry gives covers whole sectors, so
/// the compressed stream may be followed by unrelated bytes: decompression stops once the cluster is full.
/// </summary>
internal sealed class Qcow2CompressedCluster(Qcow2File file, Qcow2Header header)
{
    private readonly int _offsetBits = 62 - (header.ClusterBits - 8);
    private readonly byte[] _input = new byte[2 * header.ClusterSize];
    private readonly byte[] _cluster = new byte[header.ClusterSize];
    private ulong _cached = ulong.MaxValue;

    /// <summary>The host range a compressed L2 entry covers: offset, and length in whole 512-byte sectors from its sector.</summary>
    public (ulong Offset, ulong SectorStart, ulong Length) Range(ulong entry)
    {
        ulong descriptor = entry & ((1UL << 62) - 1);
        ulong offset = descriptor & ((1UL << _offsetBits) - 1);
        ulong sectors = (descriptor >> _offsetBits) + 1;
        return (offset, offset & ~511UL, sectors * 512);
    }

    /// <summary>The L2 entry for <paramref name="length"/> compressed bytes at host offset <paramref name="offset"/>.</summary>
    public ulong Entry(ulong offset, int length)
    {
        ulong extraSectors = ((offset + (ulong)length - 1) >> 9) - (offset >> 9);
        return (1UL << 62) | (extraSectors << _offsetBits) | offset;
    }

    /// <summary>The whole decompressed cluster for the entry (valid until the next call).</summary>
    public ReadOnlySpan<byte> Read(ulong entry, ulong fileEnd)
    {
        if (entry == _cached) return _cluster;
        var (offset, sectorStart, length) = Range(entry);
        if (offset >= fileEnd) throw new Qcow2FormatException("L2 entry", $"compressed data at 0x{offset:x} is beyond the end of the file");
        int size = (int)Math.Min(length - (offset - sectorStart), fileEnd - offset);   // the last sector may be cut short
        int got = file.Read(_input.AsSpan(0, size), (long)offset);
        var input = new MemoryStream(_input, 0, got, writable: false);
        using Stream stream = header.CompressionType == 0
            ? new DeflateStream(input, CompressionMode.Decompress)
            : new ZstdSharp.DecompressionStream(input);
        int done = 0;
        try
        {
            while (done < _cluster.Length)
            {
                int n = stream.Read(_cluster, done, _cluster.Length - done);
                if (n == 0) break;
                done += n;
            }
        }
        catch (Exception e) when (e is InvalidDataException or ZstdSharp.ZstdException)
        {
            throw new Qcow2FormatException("compressed cluster", $"at 0x{offset:x}: {e.Message}");
        }
        if (done != _cluster.Length)
            throw new Qcow2FormatException("compressed cluster", $"at 0x{offset:x} inflates to {done} bytes, not {_cluster.Length}");
        _cached = entry;
        return _cluster;
    }

    public void Forget() => _cached = ulong.MaxValue;
}
