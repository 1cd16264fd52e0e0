using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;

namespace Sharpvisor.Engines.Emulator.Instructions.Sse;

/// <summary>
/// Operand access for SSE forms: XMM registers by Iced's register number, and 32-, 64- and 128-bit memory operands.
/// Legacy-encoded 128-bit memory operands must be 16-byte aligned except for the explicitly unaligned moves; a
/// misaligned one raises #GP(0) before any access.
/// </summary>
public static class XmmOperands
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ref XmmRegister Xmm(CpuCore cpu, Iced.Intel.Register register) => ref cpu.Xmm[register - Iced.Intel.Register.XMM0];

    /// <summary>The XMM register of operand <paramref name="operand"/> (which must be a register operand).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ref XmmRegister Xmm(CpuCore cpu, in Instruction instruction, int operand) =>
        ref cpu.Xmm[instruction.GetOpRegister(operand) - Iced.Intel.Register.XMM0];

    public static bool IsRegister(in Instruction instruction, int operand) => instruction.GetOpKind(operand) == OpKind.Register;

    /// <summary>A 128-bit source operand; <paramref name="aligned"/> demands 16-byte alignment of a memory operand.</summary>
    public static XmmRegister Read128(CpuCore cpu, in Instruction instruction, int operand, bool aligned = true)
    {
        if (instruction.GetOpKind(operand) == OpKind.Register) return Xmm(cpu, instruction, operand);
        ulong address = Operands.EffectiveAddress(cpu, instruction);
        if (aligned) CheckAlignment(address);
        XmmRegister value = default;
        cpu.Memory.ReadBytes(address, MemoryMarshal.AsBytes(new Span<XmmRegister>(ref value)));
        return value;
    }

    /// <summary>Writes a 128-bit destination operand (register or memory).</summary>
    public static void Write128(CpuCore cpu, in Instruction instruction, int operand, XmmRegister value, bool aligned = true)
    {
        if (instruction.GetOpKind(operand) == OpKind.Register)
        {
            Xmm(cpu, instruction, operand) = value;
            return;
        }
        ulong address = Operands.EffectiveAddress(cpu, instruction);
        if (aligned) CheckAlignment(address);
        cpu.Memory.WriteBytes(address, MemoryMarshal.AsBytes(new ReadOnlySpan<XmmRegister>(in value)));
    }

    /// <summary>The low 64 bits of an XMM register operand, or 8 bytes of memory.</summary>
    public static ulong Read64(CpuCore cpu, in Instruction instruction, int operand) =>
        instruction.GetOpKind(operand) == OpKind.Register
            ? Xmm(cpu, instruction, operand).Low
            : cpu.Memory.Read(Operands.EffectiveAddress(cpu, instruction), 8);

    /// <summary>The low 32 bits of an XMM register operand, or 4 bytes of memory.</summary>
    public static uint Read32(CpuCore cpu, in Instruction instruction, int operand) =>
        instruction.GetOpKind(operand) == OpKind.Register
            ? (uint)Xmm(cpu, instruction, operand).Low
            : (uint)cpu.Memory.Read(Operands.EffectiveAddress(cpu, instruction), 4);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void CheckAlignment(ulong address)
    {
        if ((address & 15) != 0) throw new GuestFault(GuestFault.GeneralProtection, 0);
    }
}
