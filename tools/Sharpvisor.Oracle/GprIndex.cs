using System.Buffers.Binary;
using Iced.Intel;

namespace Sharpvisor.Oracle;

/// <summary>Hardware register numbers used to index <see cref="InstructionCase.Gprs"/>, plus small helpers.</summary>
public static class GprIndex
{
    public const int Rax = 0, Rcx = 1, Rdx = 2, Rbx = 3, Rsp = 4, Rbp = 5, Rsi = 6, Rdi = 7;
    public const int R8 = 8, R9 = 9, R10 = 10, R11 = 11, R12 = 12, R13 = 13, R14 = 14, R15 = 15;

    /// <summary>The index of a general register of any width (AL, EAX, R9W... map to their 64-bit register), or -1.</summary>
    public static int Of(Register register)
    {
        if (register is >= Register.AH and <= Register.BH) return register - Register.AH; // AH CH DH BH live in RAX..RBX
        Register full = register.GetFullRegister();
        return full is >= Register.RAX and <= Register.R15 ? full - Register.RAX : -1;
    }

    public static Register ToRegister64(int index) => Register.RAX + index;

    public static UInt128 ReadXmm(ReadOnlySpan<byte> xmm, int index)
    {
        ReadOnlySpan<byte> lane = xmm.Slice(index * 16, 16);
        return new UInt128(BinaryPrimitives.ReadUInt64LittleEndian(lane[8..]), BinaryPrimitives.ReadUInt64LittleEndian(lane));
    }

    public static void WriteXmm(Span<byte> xmm, int index, UInt128 value)
    {
        Span<byte> lane = xmm.Slice(index * 16, 16);
        BinaryPrimitives.WriteUInt64LittleEndian(lane, (ulong)value);
        BinaryPrimitives.WriteUInt64LittleEndian(lane[8..], (ulong)(value >> 64));
    }
}
