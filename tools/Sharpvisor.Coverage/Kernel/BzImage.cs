using System.Buffers.Binary;
using Sharpvisor.Coverage.Compression;

namespace Sharpvisor.Coverage.Kernel;

/// <summary>
/// Gets the vmlinux ELF out of an x86 bzImage. The setup header (boot protocol 2.08+) holds setup_sects at 0x1F1,
/// the "HdrS" signature at 0x202, and payload_offset / payload_length at 0x248 / 0x24C; the payload offset counts
/// from the start of the protected-mode part, which begins after the (setup_sects + 1) 512-byte setup sectors.
/// The payload is the compressed vmlinux; its first bytes say how it was compressed.
/// </summary>
public static class BzImage
{
    private const int SetupSectorsOffset = 0x1F1;
    private const int SignatureOffset = 0x202;
    private const int VersionOffset = 0x206;
    private const int PayloadOffsetOffset = 0x248;
    private const int PayloadLengthOffset = 0x24C;
    private const ushort MinimumVersionWithPayloadFields = 0x0208;

    public static bool IsBzImage(ReadOnlySpan<byte> image) =>
        image.Length > PayloadLengthOffset + 4 && image.Slice(SignatureOffset, 4).SequenceEqual("HdrS"u8);

    /// <summary>The compressed payload inside the image, located through the setup header.</summary>
    /// <exception cref="InvalidDataException">Not a bzImage, too old a boot protocol, or the payload lies outside the file.</exception>
    public static ReadOnlyMemory<byte> GetPayload(ReadOnlyMemory<byte> image)
    {
        ReadOnlySpan<byte> span = image.Span;
        if (!IsBzImage(span)) throw new InvalidDataException("Not a bzImage (no \"HdrS\" at 0x202).");
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(span[VersionOffset..]);
        if (version < MinimumVersionWithPayloadFields)
            throw new InvalidDataException($"Boot protocol {version >> 8}.{version & 0xFF} has no payload fields (needs 2.08).");
        int setupSectors = span[SetupSectorsOffset] == 0 ? 4 : span[SetupSectorsOffset]; // 0 means 4, per the boot protocol
        long protectedModeStart = (setupSectors + 1L) * 512;
        uint payloadOffset = BinaryPrimitives.ReadUInt32LittleEndian(span[PayloadOffsetOffset..]);
        uint payloadLength = BinaryPrimitives.ReadUInt32LittleEndian(span[PayloadLengthOffset..]);
        long start = protectedModeStart + payloadOffset;
        if (payloadLength == 0 || start + payloadLength > span.Length)
            throw new InvalidDataException($"The payload ({payloadLength} bytes at {start}) lies outside the {span.Length}-byte image.");
        return image.Slice((int)start, (int)payloadLength);
    }

    /// <summary>The name of the payload's compression, from its magic bytes.</summary>
    public static string DetectCompression(ReadOnlySpan<byte> payload)
    {
        if (Lz4LegacyFrame.HasMagic(payload)) return "lz4";
        if (payload.Length >= 2 && payload[0] == 0x1F && payload[1] == 0x8B) return "gzip";
        if (payload.Length >= 6 && payload[..6].SequenceEqual((ReadOnlySpan<byte>)[0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00])) return "xz";
        if (payload.Length >= 4 && BinaryPrimitives.ReadUInt32LittleEndian(payload) == 0xFD2FB528) return "zstd";
        if (payload.Length >= 3 && payload[..3].SequenceEqual("BZh"u8)) return "bzip2";
        if (payload.Length >= 3 && payload[0] == 0x5D && payload[1] == 0 && payload[2] == 0) return "lzma";
        if (payload.Length >= 4 && payload[..4].SequenceEqual((ReadOnlySpan<byte>)[0x89, 0x4C, 0x5A, 0x4F])) return "lzo";
        return "unknown";
    }

    /// <summary>Decompresses the payload of a bzImage into the vmlinux ELF (LZ4 legacy frame or gzip).</summary>
    /// <exception cref="NotSupportedException">The payload uses another compression (xz, zstd, bzip2, lzma, lzo).</exception>
    /// <exception cref="InvalidDataException">The image or its payload is malformed, or the result is not an ELF.</exception>
    public static byte[] ExtractVmlinux(ReadOnlyMemory<byte> image)
    {
        ReadOnlyMemory<byte> payload = GetPayload(image);
        string compression = DetectCompression(payload.Span);
        byte[] vmlinux = compression switch
        {
            "lz4" => Lz4LegacyFrame.Decompress(payload.Span),
            "gzip" => GzipMember.Decompress(payload),
            _ => throw new NotSupportedException($"bzImage payload compressed with {compression}; only lz4 and gzip are supported."),
        };
        if (!Elf.ElfFile.HasMagic(vmlinux))
            throw new InvalidDataException($"The {compression} payload did not decompress to an ELF file.");
        return vmlinux;
    }
}
