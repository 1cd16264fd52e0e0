using System.Runtime.CompilerServices;
using Iced.Intel;

namespace Sharpvisor.Engines.Emulator.Execution;

/// <summary>An instruction's immediate as a type parameter: read sign-extended to 64 bits (the handler masks it to its width).</summary>
internal interface IImmediate
{
    static abstract ulong Read(in Instruction i);
}

/// <summary>imm8 sign-extended to the operand width (Immediate8to16/32/64).</summary>
internal readonly struct SignExtendedImmediate8 : IImmediate
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Read(in Instruction i) => (ulong)(long)(sbyte)i.Immediate8;
}

/// <summary>An immediate as wide as the operand (imm8, imm16, imm32), or imm32 sign-extended to 64 bits.</summary>
internal readonly struct NaturalImmediate : IImmediate
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Read(in Instruction i) => (ulong)(long)(int)i.Immediate32;
}

/// <summary>MOV r64, imm64.</summary>
internal readonly struct FullImmediate64 : IImmediate
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Read(in Instruction i) => i.Immediate64;
}
