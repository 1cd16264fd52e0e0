using System.Runtime.CompilerServices;
using Iced.Intel;

namespace Sharpvisor.Engines.Emulator.Execution;

/// <summary>
/// How a 64-bit-mode memory operand forms its address, as a type parameter chosen at decode time, so a specialized
/// handler computes it without asking Iced which parts exist (see <see cref="FastOperands.AddressFormOf"/>).
/// </summary>
internal interface IAddressForm
{
    static abstract ulong Compute(CpuCore cpu, in Instruction i);
}

/// <summary>[base + displacement].</summary>
internal readonly struct BaseAddress : IAddressForm
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Compute(CpuCore cpu, in Instruction i) => FastOperands.Gpr64(cpu, i.MemoryBase) + i.MemoryDisplacement64;
}

/// <summary>[base + index * scale + displacement].</summary>
internal readonly struct BaseIndexAddress : IAddressForm
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Compute(CpuCore cpu, in Instruction i) =>
        FastOperands.Gpr64(cpu, i.MemoryBase) + FastOperands.Gpr64(cpu, i.MemoryIndex) * (ulong)i.MemoryIndexScale + i.MemoryDisplacement64;
}

/// <summary>[index * scale + displacement].</summary>
internal readonly struct IndexAddress : IAddressForm
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Compute(CpuCore cpu, in Instruction i) =>
        FastOperands.Gpr64(cpu, i.MemoryIndex) * (ulong)i.MemoryIndexScale + i.MemoryDisplacement64;
}

/// <summary>[displacement]: an absolute address, or a RIP-relative one (Iced resolves those to the target).</summary>
internal readonly struct AbsoluteAddress : IAddressForm
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Compute(CpuCore cpu, in Instruction i) => i.MemoryDisplacement64;
}

/// <summary>An FS- or GS-relative operand: the generic computation, which adds the segment base.</summary>
internal readonly struct SegmentedAddress : IAddressForm
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Compute(CpuCore cpu, in Instruction i) => Operands.EffectiveAddress(cpu, i);
}
