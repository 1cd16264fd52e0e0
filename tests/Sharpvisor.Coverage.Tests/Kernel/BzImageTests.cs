using System.Buffers.Binary;
using Sharpvisor.Coverage.Elf;
using Sharpvisor.Coverage.Kernel;
using Sharpvisor.Coverage.Tests.Compression;
using Sharpvisor.Coverage.Tests.Elf;

namespace Sharpvisor.Coverage.Tests.Kernel;

public class BzImageTests
{
    private static readonly byte[] Vmlinux = TestElfBuilder.WithSections(new TestElfBuilder.Section(".text", 1, 0x6, 0xFFFFFFFF81000000, [0x90, 0xC3]));

    /// <summary>A minimal bzImage: setup sectors, the setup header fields, then the payload inside the protected-mode part.</summary>
    private static byte[] MakeBzImage(byte[] payload, byte setupSectors = 3, uint payloadOffset = 0x40, ushort version = 0x020F)
    {
        int protectedModeStart = (setupSectors + 1) * 512;
        var image = new byte[protectedModeStart + payloadOffset + payload.Length + 100];
        image[0x1F1] = setupSectors;
        "HdrS"u8.CopyTo(image.AsSpan(0x202));
        BinaryPrimitives.WriteUInt16LittleEndian(image.AsSpan(0x206), version);
        BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(0x248), payloadOffset);
        BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(0x24C), (uint)payload.Length);
        payload.CopyTo(image, protectedModeStart + (int)payloadOffset);
        return image;
    }

    [Fact]
    public void ExtractsAnLz4LegacyPayload()
    {
        byte[] payload = Lz4LegacyFrameTests.Frame([Lz4LegacyFrameTests.LiteralBlock(Vmlinux)], (uint)Vmlinux.Length);
        byte[] image = MakeBzImage(payload);
        Assert.True(BzImage.IsBzImage(image));
        Assert.Equal("lz4", BzImage.DetectCompression(BzImage.GetPayload(image).Span));
        byte[] extracted = BzImage.ExtractVmlinux(image);
        Assert.Equal(Vmlinux, extracted);
        Assert.NotNull(ElfFile.Parse(extracted).FindSection(".text"));
    }

    [Fact]
    public void ExtractsAGzipPayload()
    {
        byte[] image = MakeBzImage(GzipMemberTests.Gzip(Vmlinux), setupSectors: 30, payloadOffset: 0x3A5);
        Assert.Equal(Vmlinux, BzImage.ExtractVmlinux(image));
    }

    [Fact]
    public void OtherCompressionsAreNamedAndRefused()
    {
        byte[] xz = [0xFD, 0x37, 0x7A, 0x58, 0x5A, 0x00, 1, 2, 3];
        var e = Assert.Throws<NotSupportedException>(() => BzImage.ExtractVmlinux(MakeBzImage(xz)));
        Assert.Contains("xz", e.Message);
    }

    [Fact]
    public void RejectsImagesWithoutPayloadFields()
    {
        Assert.Throws<InvalidDataException>(() => BzImage.GetPayload(new byte[4096]));
        Assert.Throws<InvalidDataException>(() => BzImage.GetPayload(MakeBzImage([1, 2, 3], version: 0x0206)));
        byte[] image = MakeBzImage([1, 2, 3]);
        BinaryPrimitives.WriteUInt32LittleEndian(image.AsSpan(0x24C), 1_000_000);
        Assert.Throws<InvalidDataException>(() => BzImage.GetPayload(image));
    }

    [Fact]
    public void APayloadThatIsNotAnElfIsRejected()
    {
        byte[] payload = Lz4LegacyFrameTests.Frame([Lz4LegacyFrameTests.LiteralBlock("not an elf"u8)], 10);
        Assert.Throws<InvalidDataException>(() => BzImage.ExtractVmlinux(MakeBzImage(payload)));
    }
}
