using System.Buffers.Binary;
using System.Diagnostics;
using Sharpvisor.Coverage.Compression;
using Sharpvisor.Testing;

namespace Sharpvisor.Coverage.Tests.Compression;

public class Lz4LegacyFrameTests
{
    /// <summary>A legacy frame as the kernel build writes it: magic, sized blocks, then the total size appended.</summary>
    internal static byte[] Frame(IEnumerable<byte[]> blocks, uint? appendedSize)
    {
        var frame = new List<byte>();
        frame.AddRange(BitConverter.GetBytes(Lz4LegacyFrame.Magic));
        foreach (var block in blocks)
        {
            frame.AddRange(BitConverter.GetBytes((uint)block.Length));
            frame.AddRange(block);
        }
        if (appendedSize is uint size) frame.AddRange(BitConverter.GetBytes(size));
        return frame.ToArray();
    }

    /// <summary>One block holding the data as literals only (valid LZ4, no compression).</summary>
    internal static byte[] LiteralBlock(ReadOnlySpan<byte> data)
    {
        var block = new List<byte>();
        if (data.Length < 15)
        {
            block.Add((byte)(data.Length << 4));
        }
        else
        {
            block.Add(0xF0);
            int rest = data.Length - 15;
            while (rest >= 255) { block.Add(255); rest -= 255; }
            block.Add((byte)rest);
        }
        block.AddRange(data.ToArray());
        return block.ToArray();
    }

    [Fact]
    public void BlocksAreConcatenatedAndTheAppendedSizeIgnored()
    {
        byte[] first = LiteralBlock("first block "u8);
        byte[] second = [0x22, (byte)'a', (byte)'b', 0x02, 0x00, 0x60, .. "!!!!!!"u8];
        byte[] frame = Frame([first, second], appendedSize: 26);
        Assert.Equal("first block abababab!!!!!!"u8.ToArray(), Lz4LegacyFrame.Decompress(frame));
    }

    [Fact]
    public void ARepeatedMagicStartsAnotherFrame()
    {
        byte[] one = Frame([LiteralBlock("one,"u8)], appendedSize: null);
        byte[] two = Frame([LiteralBlock("two"u8)], appendedSize: 7);
        Assert.Equal("one,two"u8.ToArray(), Lz4LegacyFrame.Decompress([.. one, .. two]));
    }

    [Fact]
    public void WrongMagicOrOversizedBlockIsRejected()
    {
        Assert.Throws<InvalidDataException>(() => Lz4LegacyFrame.Decompress([0x04, 0x22, 0x4D, 0x18, 0, 0, 0, 0]));
        byte[] frame = Frame([LiteralBlock("abc"u8)], appendedSize: 3);
        BinaryPrimitives.WriteUInt32LittleEndian(frame.AsSpan(4), 1000);
        Assert.Throws<InvalidDataException>(() => Lz4LegacyFrame.Decompress(frame));
    }

    [SkippableFact]
    public void WhatTheLz4ToolWritesForTheKernelDecodes()
    {
        HostRequires.Tool("lz4", "lz4");
        // As the kernel build does it: lz4 -l (8 MiB blocks, so two here), then the size appended. Compressible, not trivial.
        var random = new Random(7);
        byte[] data = new byte[9 << 20];
        for (int i = 0; i < data.Length; i++) data[i] = i % 64 < 48 ? (byte)(i / 64) : (byte)random.Next(4);
        string input = Path.GetTempFileName(), output = input + ".lz4";
        try
        {
            File.WriteAllBytes(input, data);
            using (var lz4 = Process.Start("lz4", ["-q", "-l", "-9", "-f", input, output])!) lz4.WaitForExit();
            byte[] frame = [.. File.ReadAllBytes(output), .. BitConverter.GetBytes((uint)data.Length)];
            Assert.True(frame.Length < data.Length / 2, $"lz4 wrote {frame.Length} bytes for {data.Length}");
            Assert.Equal(data, Lz4LegacyFrame.Decompress(frame));
        }
        finally
        {
            File.Delete(input);
            File.Delete(output);
        }
    }
}
