using System.Runtime.CompilerServices;
using Iced.Intel;

namespace Sharpvisor.Engines.Emulator.Execution;

/// <summary>
/// An operand width as a type parameter: a handler made generic over it gets its masks, register numbering and
/// x86-64 partial-write rule as constants (see <see cref="FastOperands"/>).
/// </summary>
internal interface IOperandWidth
{
    static abstract int Bytes { get; }
    static abstract ulong Mask { get; }
    /// <summary>The register's number in <see cref="CpuCore.Gpr"/>, for a register of this width (never AH..BH).</summary>
    static abstract int GprIndex(Register register);
    /// <summary>The register slot after writing <paramref name="value"/>: 32-bit writes clear the upper half, 8- and 16-bit writes merge.</summary>
    static abstract ulong Merge(ulong slot, ulong value);
    static abstract ulong SignExtend(ulong value);
}

internal readonly struct Width8 : IOperandWidth
{
    public static int Bytes => 8;
    public static ulong Mask => ulong.MaxValue;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int GprIndex(Register register) => register - Register.RAX;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong Merge(ulong slot, ulong value) => value;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong SignExtend(ulong value) => value;
}

internal readonly struct Width4 : IOperandWidth
{
    public static int Bytes => 4;
    public static ulong Mask => 0xFFFF_FFFF;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int GprIndex(Register register) => register - Register.EAX;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong Merge(ulong slot, ulong value) => (uint)value;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong SignExtend(ulong value) => (ulong)(long)(int)value;
}

internal readonly struct Width2 : IOperandWidth
{
    public static int Bytes => 2;
    public static ulong Mask => 0xFFFF;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static int GprIndex(Register register) => register - Register.AX;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong Merge(ulong slot, ulong value) => (slot & ~0xFFFFUL) | (value & 0xFFFF);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong SignExtend(ulong value) => (ulong)(long)(short)value;
}

internal readonly struct Width1 : IOperandWidth
{
    public static int Bytes => 1;
    public static ulong Mask => 0xFF;
    // AL..BL are 1..4, SPL..DIL 9..12, R8L..R15L 13..20 (AH..BH, 5..8, never reach a specialized handler).
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int GprIndex(Register register) => register < Register.AH ? register - Register.AL : register - Register.AL - 4;
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong Merge(ulong slot, ulong value) => (slot & ~0xFFUL) | (value & 0xFF);
    [MethodImpl(MethodImplOptions.AggressiveInlining)] public static ulong SignExtend(ulong value) => (ulong)(long)(sbyte)value;
}
