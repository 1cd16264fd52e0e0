using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using static Sharpvisor.Engines.Emulator.Execution.Operands;

namespace Sharpvisor.Engines.Emulator.Instructions;

/// <summary>
/// CMPXCHG, CMPXCHG8B, CMPXCHG16B, XADD. With one vCPU thread an instruction is already indivisible, so LOCK
/// changes nothing here; cross-vCPU atomicity (real interlocked operations on guest RAM) comes with SMP.
/// </summary>
public static class Atomics
{
    public static unsafe void Register(InstructionTable table)
    {
        table.SetAllGeneralForms(Mnemonic.Cmpxchg, &Cmpxchg);
        table.SetAllGeneralForms(Mnemonic.Cmpxchg8b, &Cmpxchg8b);
        table.SetAllGeneralForms(Mnemonic.Cmpxchg16b, &Cmpxchg16b);
        table.SetAllGeneralForms(Mnemonic.Xadd, &Xadd);
    }

    private static Iced.Intel.Register Accumulator(int width) => width switch
    {
        1 => Iced.Intel.Register.AL,
        2 => Iced.Intel.Register.AX,
        4 => Iced.Intel.Register.EAX,
        _ => Iced.Intel.Register.RAX,
    };

    // Flags as CMP accumulator, destination. Equal: destination = source. Otherwise the accumulator takes the
    // destination (a memory destination is written back unchanged, as the locked read-modify-write does).
    private static void Cmpxchg(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0);
        var accumulator = Accumulator(w);
        ulong expected = ReadRegister(cpu, accumulator), current = Read(cpu, i, 0, w), source = Read(cpu, i, 1, w);
        cpu.Flags.Set(FlagOperation.Sub, w, expected, current, (expected - current) & Mask(w));
        if (expected == current)
        {
            Write(cpu, i, 0, w, source);
            return;
        }
        if (i.Op0Kind == OpKind.Memory) Write(cpu, i, 0, w, current);
        WriteRegister(cpu, accumulator, current);
    }

    // Only ZF changes. Equal: m64 = ECX:EBX. Otherwise EDX:EAX = m64 (the 32-bit writes clear the upper halves).
    private static void Cmpxchg8b(CpuCore cpu, ref Instruction i)
    {
        ulong address = EffectiveAddress(cpu, i);
        ulong current = cpu.Memory.Read(address, 8);
        ulong expected = (cpu.Gpr[CpuCore.Rdx] << 32) | (uint)cpu.Gpr[CpuCore.Rax];
        bool equal = current == expected;
        if (equal) cpu.Memory.Write(address, 8, (cpu.Gpr[CpuCore.Rcx] << 32) | (uint)cpu.Gpr[CpuCore.Rbx]);
        else
        {
            cpu.Memory.Write(address, 8, current);
            cpu.Gpr[CpuCore.Rax] = (uint)current;
            cpu.Gpr[CpuCore.Rdx] = current >> 32;
        }
        SetZero(cpu, equal);
    }

    // As CMPXCHG8B on RDX:RAX and RCX:RBX; the operand must be 16-byte aligned (#GP(0) otherwise).
    private static void Cmpxchg16b(CpuCore cpu, ref Instruction i)
    {
        ulong address = EffectiveAddress(cpu, i);
        if ((address & 15) != 0) throw new GuestFault(GuestFault.GeneralProtection, 0);
        ulong low = cpu.Memory.Read(address, 8), high = cpu.Memory.Read(address + 8, 8);
        bool equal = low == cpu.Gpr[CpuCore.Rax] && high == cpu.Gpr[CpuCore.Rdx];
        if (equal)
        {
            cpu.Memory.Write(address, 8, cpu.Gpr[CpuCore.Rbx]);
            cpu.Memory.Write(address + 8, 8, cpu.Gpr[CpuCore.Rcx]);
        }
        else
        {
            cpu.Memory.Write(address, 8, low);
            cpu.Memory.Write(address + 8, 8, high);
            cpu.Gpr[CpuCore.Rax] = low;
            cpu.Gpr[CpuCore.Rdx] = high;
        }
        SetZero(cpu, equal);
    }

    private static void SetZero(CpuCore cpu, bool zero)
    {
        ulong flags = cpu.Flags.ToBits() & ~LazyFlags.ZeroBit;
        cpu.Flags.Load(zero ? flags | LazyFlags.ZeroBit : flags);
    }

    // XADD dst, src: src = old dst, dst = sum (written last, so XADD r, r leaves the sum).
    private static void Xadd(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0);
        ulong a = Read(cpu, i, 0, w), b = Read(cpu, i, 1, w), sum = (a + b) & Mask(w);
        Write(cpu, i, 1, w, a);
        Write(cpu, i, 0, w, sum);
        cpu.Flags.Set(FlagOperation.Add, w, a, b, sum);
    }
}
