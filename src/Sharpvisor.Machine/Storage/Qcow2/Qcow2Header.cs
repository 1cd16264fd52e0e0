using System.Buffers.Binary;
using System.Text;

namespace Sharpvisor.Machine.Storage.Qcow2;

/// <summary>
/// The qcow2 header (versions 2 and 3; all fields big-endian) and the header extensions we use, parsed and checked
/// against the file: every offset aligned and inside the file, every size within what the virtual size needs or a sane
/// limit, so later code may trust them.
/// </summary>
public sealed record Qcow2Header
{
    public const uint Magic = 0x514649FB;            // "QFI\xfb"
    public const int MinClusterBits = 9, MaxClusterBits = 21;
    public const int Version2Length = 72, Version3Length = 104;
    public const ulong IncompatibleDirty = 1, IncompatibleCorrupt = 2, IncompatibleExternalData = 4,
        IncompatibleCompressionType = 8, IncompatibleExtendedL2 = 16;
    public const uint ExtensionEnd = 0, ExtensionBackingFormat = 0xE2792ACA;
    /// <summary>Largest L1 table we accept (32 MiB of entries, as QEMU), and refcount table (8 MiB).</summary>
    public const ulong MaxL1Bytes = 32UL << 20, MaxRefcountTableBytes = 8UL << 20;
    public const ulong MaxVirtualSize = 1UL << 55;   // offsets in table entries have 56 bits

    // Byte offsets of the fields we rewrite in place.
    public const int RefcountTableOffsetField = 48, AutoclearFeaturesField = 88;

    public uint Version { get; init; }
    public ulong BackingFileOffset { get; init; }
    public uint BackingFileSize { get; init; }
    public int ClusterBits { get; init; }
    public ulong VirtualSize { get; init; }
    public uint CryptMethod { get; init; }
    public uint L1Size { get; init; }
    public ulong L1TableOffset { get; init; }
    public ulong RefcountTableOffset { get; init; }
    public uint RefcountTableClusters { get; init; }
    public uint SnapshotCount { get; init; }
    public ulong SnapshotsOffset { get; init; }
    public ulong IncompatibleFeatures { get; init; }
    public ulong CompatibleFeatures { get; init; }
    public ulong AutoclearFeatures { get; init; }
    public int RefcountOrder { get; init; } = 4;
    public uint HeaderLength { get; init; }
    public byte CompressionType { get; init; }
    public string? BackingFile { get; init; }
    public string? BackingFormat { get; init; }

    public ulong ClusterSize => 1UL << ClusterBits;
    public ulong L2Entries => ClusterSize / 8;

    /// <summary>L1 entries the virtual size needs.</summary>
    public static ulong L1EntriesFor(ulong virtualSize, int clusterBits)
    {
        ulong perL2 = 1UL << (clusterBits + clusterBits - 3);
        return (virtualSize + perL2 - 1) / perL2;
    }

    public static bool HasMagic(ReadOnlySpan<byte> start) =>
        start.Length >= 4 && BinaryPrimitives.ReadUInt32BigEndian(start) == Magic;

    /// <param name="first">The file's first bytes: at least the header, its extensions and the backing name (the first cluster).</param>
    public static Qcow2Header Parse(ReadOnlySpan<byte> first, ulong fileLength)
    {
        if (first.Length < Version2Length) throw new Qcow2FormatException("header", $"the file has {first.Length} bytes, fewer than a header");
        if (!HasMagic(first)) throw new Qcow2FormatException("magic", $"0x{BinaryPrimitives.ReadUInt32BigEndian(first):x8} is not QFI\\xfb");
        uint version = U32(first, 4);
        if (version is not (2 or 3)) throw new Qcow2FormatException("version", $"{version} is not 2 or 3");
        uint clusterBits = U32(first, 20);
        if (clusterBits is < MinClusterBits or > MaxClusterBits)
            throw new Qcow2FormatException("cluster_bits", $"{clusterBits} is outside {MinClusterBits}..{MaxClusterBits}");
        int cb = (int)clusterBits;
        ulong cluster = 1UL << cb;
        var h = new Qcow2Header
        {
            Version = version,
            BackingFileOffset = U64(first, 8),
            BackingFileSize = U32(first, 16),
            ClusterBits = cb,
            VirtualSize = U64(first, 24),
            CryptMethod = U32(first, 32),
            L1Size = U32(first, 36),
            L1TableOffset = U64(first, 40),
            RefcountTableOffset = U64(first, 48),
            RefcountTableClusters = U32(first, 56),
            SnapshotCount = U32(first, 60),
            SnapshotsOffset = U64(first, 64),
            HeaderLength = Version2Length,
        };
        if (version == 3)
        {
            if (first.Length < Version3Length) throw new Qcow2FormatException("header_length", "the version 3 header is cut short");
            uint length = U32(first, 100);
            if (length < Version3Length || length > cluster || length > first.Length)
                throw new Qcow2FormatException("header_length", $"{length} is not within {Version3Length}..{cluster}");
            h = h with
            {
                IncompatibleFeatures = U64(first, 72),
                CompatibleFeatures = U64(first, 80),
                AutoclearFeatures = U64(first, 88),
                RefcountOrder = (int)Math.Min(U32(first, 96), 64),
                HeaderLength = length,
                CompressionType = length > 104 ? first[104] : (byte)0,
            };
        }
        h.Check(fileLength);
        return h.ReadExtensions(first);
    }

    private void Check(ulong fileLength)
    {
        ulong cluster = ClusterSize;
        if (VirtualSize > MaxVirtualSize) throw new Qcow2FormatException("size", $"{VirtualSize} bytes is beyond the format's limit");
        if (CryptMethod != 0) throw new Qcow2FormatException("crypt_method", $"encryption ({CryptMethod}) is not supported");
        ulong known = IncompatibleDirty | IncompatibleCorrupt | IncompatibleExternalData | IncompatibleCompressionType | IncompatibleExtendedL2;
        if ((IncompatibleFeatures & ~known) != 0)
            throw new Qcow2FormatException("incompatible_features", $"unknown feature bits 0x{IncompatibleFeatures & ~known:x}");
        if ((IncompatibleFeatures & IncompatibleExternalData) != 0)
            throw new Qcow2FormatException("incompatible_features", "external data files are not supported");
        if ((IncompatibleFeatures & IncompatibleExtendedL2) != 0)
            throw new Qcow2FormatException("incompatible_features", "extended L2 entries (subclusters) are not supported");
        if (CompressionType > 1 || (CompressionType != 0) != ((IncompatibleFeatures & IncompatibleCompressionType) != 0))
            throw new Qcow2FormatException("compression_type", $"{CompressionType} does not match the feature bits");
        if (RefcountOrder > 6)
            throw new Qcow2FormatException("refcount_order", $"{RefcountOrder} is beyond 6 (64-bit refcounts)");

        ulong needed = L1EntriesFor(VirtualSize, ClusterBits);
        if (L1Size < needed) throw new Qcow2FormatException("l1_size", $"{L1Size} entries cannot map {VirtualSize} bytes ({needed} needed)");
        if ((ulong)L1Size * 8 > MaxL1Bytes) throw new Qcow2FormatException("l1_size", $"{L1Size} entries is beyond the limit");
        CheckTable("l1_table_offset", L1TableOffset, (ulong)L1Size * 8, cluster, fileLength);

        if (RefcountTableClusters == 0) throw new Qcow2FormatException("refcount_table_clusters", "0: the image has no refcount table");
        ulong refcountBytes = (ulong)RefcountTableClusters << ClusterBits;
        if (refcountBytes > MaxRefcountTableBytes)
            throw new Qcow2FormatException("refcount_table_clusters", $"{RefcountTableClusters} clusters is beyond the limit");
        CheckTable("refcount_table_offset", RefcountTableOffset, refcountBytes, cluster, fileLength);

        if (SnapshotCount > 0 && (SnapshotsOffset % cluster != 0 || SnapshotsOffset >= fileLength))
            throw new Qcow2FormatException("snapshots_offset", $"0x{SnapshotsOffset:x} is not an aligned offset inside the file");
        if (BackingFileOffset != 0 && (BackingFileSize is 0 or > 1023 || BackingFileOffset + BackingFileSize > cluster))
            throw new Qcow2FormatException("backing_file_offset", $"the name ({BackingFileSize} bytes at 0x{BackingFileOffset:x}) is not inside the first cluster");
    }

    private static void CheckTable(string field, ulong offset, ulong bytes, ulong cluster, ulong fileLength)
    {
        if (offset == 0 || offset % cluster != 0)
            throw new Qcow2FormatException(field, $"0x{offset:x} is not a nonzero multiple of the cluster size ({cluster})");
        if (offset > fileLength || bytes > fileLength - offset)
            throw new Qcow2FormatException(field, $"the table (0x{bytes:x} bytes at 0x{offset:x}) reaches beyond the end of the file (0x{fileLength:x})");
    }

    private Qcow2Header ReadExtensions(ReadOnlySpan<byte> first)
    {
        string? format = null;
        int at = (int)HeaderLength;
        int limit = (int)Math.Min((ulong)first.Length, ClusterSize);
        while (true)
        {
            if (at + 8 > limit) throw new Qcow2FormatException("header extension", $"the list at {at} runs past the first cluster");
            uint type = U32(first, at), length = U32(first, at + 4);
            if (type == ExtensionEnd) break;
            ulong padded = ((ulong)length + 7) & ~7UL;
            if ((ulong)at + 8 + padded > (ulong)limit)
                throw new Qcow2FormatException("header extension", $"0x{type:x8} ({length} bytes at {at}) runs past the first cluster");
            if (type == ExtensionBackingFormat) format = Encoding.UTF8.GetString(first.Slice(at + 8, (int)length));
            at += 8 + (int)padded;
        }
        string? backing = BackingFileOffset == 0 ? null
            : Encoding.UTF8.GetString(first.Slice((int)BackingFileOffset, (int)BackingFileSize));
        return this with { BackingFile = backing, BackingFormat = format };
    }

    private static uint U32(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt32BigEndian(b[at..]);
    private static ulong U64(ReadOnlySpan<byte> b, int at) => BinaryPrimitives.ReadUInt64BigEndian(b[at..]);
}
