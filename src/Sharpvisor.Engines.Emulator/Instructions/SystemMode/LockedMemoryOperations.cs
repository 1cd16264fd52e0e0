using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Engines.Emulator.Memory;
using static Sharpvisor.Engines.Emulator.Execution.Operands;

namespace Sharpvisor.Engines.Emulator.Instructions.SystemMode;

/// <summary>
/// LOCK-prefixed read-modify-writes and XCHG with memory, made atomic across vCPU threads: the instruction's own
/// handler runs on a copy of the memory operand held in a scratch register (one the instruction does not name), and
/// the result goes to guest RAM with a host compare-and-exchange against the value read; when another vCPU changed
/// the location in between, registers and flags are put back and the instruction runs again. So a plain store by
/// another vCPU (Linux's spin_unlock) is never lost under a locked write-back, as it would be with a read, then write.
/// </summary>
/// <remarks>
/// Operands in MMIO, operands crossing a page, and CMPXCHG8B/16B run their handler under one process-wide lock:
/// atomic against each other, not against plain stores (MMIO has no such stores; the others are rare).
/// </remarks>
public static class LockedMemoryOperations
{
    private static readonly Lock Fallback = new();

    /// <summary>Whether <paramref name="instruction"/> needs <see cref="Execute"/>: a LOCK prefix, or XCHG, with a memory operand.</summary>
    public static bool Applies(in Instruction instruction) =>
        (instruction.HasLockPrefix || instruction.Mnemonic == Mnemonic.Xchg) && MemoryOperand(instruction) >= 0;

    private static int MemoryOperand(in Instruction i)
    {
        for (int k = 0; k < i.OpCount; k++)
            if (i.GetOpKind(k) == OpKind.Memory) return k;
        return -1;
    }

    public static unsafe void Execute(CpuCore cpu, ref Instruction i)
    {
        var handler = InstructionTable.Default[i.Code];
        int operand = MemoryOperand(i);
        int width = i.MemorySize.GetSize();
        if (i.Mnemonic is Mnemonic.Cmpxchg8b or Mnemonic.Cmpxchg16b || width is not (1 or 2 or 4 or 8))
        {
            RunUnderFallback(cpu, ref i, handler);
            return;
        }
        ulong linear = EffectiveAddress(cpu, i);
        if (i.Mnemonic is Mnemonic.Bts or Mnemonic.Btr or Mnemonic.Btc && i.Op1Kind == OpKind.Register)
        {
            // A register bit offset reaches beyond the operand: the word it names is the one locked and changed.
            long bit = (long)SignExtend(ReadRegister(cpu, i.Op1Register), width);
            long words = bit >> (3 + System.Numerics.BitOperations.Log2((uint)width));
            linear += (ulong)(words * width);
            if (!cpu.SixtyFourBitMode) linear = (uint)linear;
        }
        if ((linear & 0xFFF) + (ulong)width > 0x1000)
        {
            RunUnderFallback(cpu, ref i, handler);
            return;
        }
        ulong physical = cpu.Memory.Translator.Translate(linear, AccessKind.Write); // faults (#PF, write) as the store would
        var ram = cpu.Memory.Ram;
        if (!ram.IsRam(physical, (ulong)width))
        {
            RunUnderFallback(cpu, ref i, handler);
            return;
        }
        ref byte target = ref MemoryMarshal.GetReference(ram.GetSpan(physical, width));

        int scratchIndex = ScratchIndex(i);
        var asRegister = i;
        asRegister.SetOpKind(operand, OpKind.Register);
        asRegister.SetOpRegister(operand, ScratchRegister(scratchIndex, width)); // BTx on a register takes the bit offset modulo the width

        ulong savedScratch = cpu.Gpr[scratchIndex];
        var savedRegisters = cpu.Gpr;
        var savedFlags = cpu.Flags;
        ulong old, result;
        while (true)
        {
            old = AtomicRead(ref target, width);
            cpu.Gpr[scratchIndex] = old;
            handler(cpu, ref asRegister);
            result = cpu.Gpr[scratchIndex] & Mask(width);
            if (CompareExchange(ref target, width, old, result)) break;
            cpu.Gpr = savedRegisters;
            cpu.Flags = savedFlags;
        }
        cpu.Gpr[scratchIndex] = savedScratch;
        if (result == old) return;
        // The store went around EmulatedMemory, so it reports itself to what watches guest writes there.
        if (cpu.Memory.CodePages.IsCode(physical >> 12)) cpu.Memory.CodePages.NoteWrite(physical, width);
        if (cpu.Memory.DirtyLog is { Enabled: true } log) log.NoteWrite(physical, width);
    }

    private static unsafe void RunUnderFallback(CpuCore cpu, ref Instruction i, delegate*<CpuCore, ref Instruction, void> handler)
    {
        lock (Fallback) handler(cpu, ref i);
    }

    /// <summary>R8..R15 by hardware number: the first the instruction does not name (it names at most three registers).</summary>
    private static int ScratchIndex(in Instruction i)
    {
        for (int candidate = 8; ; candidate++)
        {
            bool used = Names(i.MemoryBase, candidate) || Names(i.MemoryIndex, candidate);
            for (int k = 0; k < i.OpCount; k++)
                if (i.GetOpKind(k) == OpKind.Register) used |= Names(i.GetOpRegister(k), candidate);
            if (!used) return candidate;
        }
    }

    private static bool Names(Register register, int index) =>
        register != Register.None && register.IsGPR() && register.GetFullRegister() - Register.RAX == index;

    private static Register ScratchRegister(int index, int width) => width switch
    {
        1 => Register.R8L + (index - 8),
        2 => Register.R8W + (index - 8),
        4 => Register.R8D + (index - 8),
        _ => Register.R8 + (index - 8),
    };

    private static ulong AtomicRead(ref byte target, int width) => width switch
    {
        1 => Volatile.Read(ref target),
        2 => Volatile.Read(ref Unsafe.As<byte, ushort>(ref target)),
        4 => Volatile.Read(ref Unsafe.As<byte, uint>(ref target)),
        _ => Volatile.Read(ref Unsafe.As<byte, ulong>(ref target)),
    };

    private static bool CompareExchange(ref byte target, int width, ulong expected, ulong value) => width switch
    {
        1 => Interlocked.CompareExchange(ref target, (byte)value, (byte)expected) == (byte)expected,
        2 => Interlocked.CompareExchange(ref Unsafe.As<byte, ushort>(ref target), (ushort)value, (ushort)expected) == (ushort)expected,
        4 => Interlocked.CompareExchange(ref Unsafe.As<byte, uint>(ref target), (uint)value, (uint)expected) == (uint)expected,
        _ => Interlocked.CompareExchange(ref Unsafe.As<byte, ulong>(ref target), value, expected) == expected,
    };
}
