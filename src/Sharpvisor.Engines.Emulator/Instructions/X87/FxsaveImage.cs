using System.Buffers.Binary;
using Sharpvisor.Engines.Emulator.Execution;

namespace Sharpvisor.Engines.Emulator.Instructions.X87;

/// <summary>
/// The 512-byte FXSAVE layout: FCW 0, FSW 2, abridged FTW 4, FOP 6, FIP 8, FDP 16 (64-bit offsets in the REX.W
/// form; 32-bit offset + 16-bit selector otherwise, selectors stored as 0), MXCSR 24, MXCSR_MASK 28, ST0..ST7 at
/// 32 + 16 i (10 bytes used, 6 zero), XMM0..XMM15 at 160 + 16 i. Bytes 416..511 are never written.
/// </summary>
public static class FxsaveImage
{
    public const int Size = 512;
    /// <summary>Bytes FXSAVE writes in 64-bit mode (the header, ST0..7 and XMM0..15).</summary>
    public const int WrittenSize = 416;
    public const int X87Size = 160;
    public const int MxcsrOffset = 24, MxcsrMaskOffset = 28, RegistersOffset = 32, XmmOffset = 160;
    /// <summary>The MXCSR bits the emulator implements (DAZ included): a set bit outside it makes FXRSTOR/LDMXCSR fault.</summary>
    public const uint MxcsrMask = 0xFFFF;

    /// <summary>Writes the x87 part (bytes 0..23 and 32..159) of an image.</summary>
    public static void SaveX87(CpuCore cpu, Span<byte> image, bool wide)
    {
        BinaryPrimitives.WriteUInt16LittleEndian(image, cpu.FpuControlWord);
        BinaryPrimitives.WriteUInt16LittleEndian(image[2..], cpu.FpuStatusWord);
        image[4] = cpu.FpuTagValid;
        image[5] = 0;
        BinaryPrimitives.WriteUInt16LittleEndian(image[6..], (ushort)(cpu.FpuLastOpcode & 0x7FF));
        if (wide)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(image[8..], cpu.FpuLastInstructionPointer);
            BinaryPrimitives.WriteUInt64LittleEndian(image[16..], cpu.FpuLastDataPointer);
        }
        else
        {
            BinaryPrimitives.WriteUInt64LittleEndian(image[8..], (uint)cpu.FpuLastInstructionPointer);
            BinaryPrimitives.WriteUInt64LittleEndian(image[16..], (uint)cpu.FpuLastDataPointer);
        }
        for (int k = 0; k < 8; k++)
        {
            Span<byte> slot = image.Slice(RegistersOffset + 16 * k, 16);
            X87Core.St(cpu, k).Write(slot);
            slot[10..].Clear();
        }
    }

    /// <summary>Loads the x87 part of an image (the registers relative to the image's TOP; ES and B follow the loaded flags and masks).</summary>
    public static void RestoreX87(CpuCore cpu, ReadOnlySpan<byte> image, bool wide)
    {
        cpu.FpuControlWord = X87Control.SanitizeControlWord(BinaryPrimitives.ReadUInt16LittleEndian(image));
        cpu.FpuStatusWord = BinaryPrimitives.ReadUInt16LittleEndian(image[2..]);
        cpu.FpuTagValid = image[4];
        cpu.FpuLastOpcode = (ushort)(BinaryPrimitives.ReadUInt16LittleEndian(image[6..]) & 0x7FF);
        cpu.FpuLastInstructionPointer = wide ? BinaryPrimitives.ReadUInt64LittleEndian(image[8..]) : BinaryPrimitives.ReadUInt32LittleEndian(image[8..]);
        cpu.FpuLastDataPointer = wide ? BinaryPrimitives.ReadUInt64LittleEndian(image[16..]) : BinaryPrimitives.ReadUInt32LittleEndian(image[16..]);
        for (int k = 0; k < 8; k++) X87Core.St(cpu, k) = Float80.Read(image[(RegistersOffset + 16 * k)..]);
        X87Core.UpdateErrorSummary(cpu);
    }

    /// <summary>Writes MXCSR, MXCSR_MASK and XMM0..XMM15.</summary>
    public static void SaveSse(CpuCore cpu, Span<byte> image)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(image[MxcsrOffset..], cpu.Mxcsr);
        BinaryPrimitives.WriteUInt32LittleEndian(image[MxcsrMaskOffset..], MxcsrMask);
        for (int x = 0; x < 16; x++)
        {
            BinaryPrimitives.WriteUInt64LittleEndian(image[(XmmOffset + 16 * x)..], cpu.Xmm[x].Low);
            BinaryPrimitives.WriteUInt64LittleEndian(image[(XmmOffset + 16 * x + 8)..], cpu.Xmm[x].High);
        }
    }

    /// <summary>Loads MXCSR and XMM0..XMM15 (the caller has checked MXCSR against <see cref="MxcsrMask"/>).</summary>
    public static void RestoreSse(CpuCore cpu, ReadOnlySpan<byte> image)
    {
        cpu.Mxcsr = BinaryPrimitives.ReadUInt32LittleEndian(image[MxcsrOffset..]);
        for (int x = 0; x < 16; x++)
        {
            cpu.Xmm[x].Low = BinaryPrimitives.ReadUInt64LittleEndian(image[(XmmOffset + 16 * x)..]);
            cpu.Xmm[x].High = BinaryPrimitives.ReadUInt64LittleEndian(image[(XmmOffset + 16 * x + 8)..]);
        }
    }
}
