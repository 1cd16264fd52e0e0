using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using static Sharpvisor.Engines.Emulator.Execution.Operands;

namespace Sharpvisor.Engines.Emulator.Instructions;

/// <summary>MOV and its extending forms, LEA, XCHG, PUSH, POP, the sign-extension family, BSWAP, CMOVcc, SETcc, NOP.</summary>
public static unsafe class DataMovement
{
    public static void Register(InstructionTable table)
    {
        table.SetAllGeneralForms(Mnemonic.Mov, &Mov);
        table.SetAllGeneralForms(Mnemonic.Movzx, &Movzx);
        table.SetAllGeneralForms(Mnemonic.Movsx, &Movsx);
        table.SetAllGeneralForms(Mnemonic.Movsxd, &Movsx);
        table.SetAllGeneralForms(Mnemonic.Lea, &Lea);
        table.SetAllGeneralForms(Mnemonic.Xchg, &Xchg);
        table.SetAllGeneralForms(Mnemonic.Push, &Push);
        table.SetAllGeneralForms(Mnemonic.Pop, &Pop);
        table.SetAllGeneralForms(Mnemonic.Cbw, &SignExtendAccumulator);
        table.SetAllGeneralForms(Mnemonic.Cwde, &SignExtendAccumulator);
        table.SetAllGeneralForms(Mnemonic.Cdqe, &SignExtendAccumulator);
        table.SetAllGeneralForms(Mnemonic.Cwd, &SignExtendIntoRdx);
        table.SetAllGeneralForms(Mnemonic.Cdq, &SignExtendIntoRdx);
        table.SetAllGeneralForms(Mnemonic.Cqo, &SignExtendIntoRdx);
        table.SetAllGeneralForms(Mnemonic.Bswap, &Bswap);
        table.SetAllGeneralForms(Mnemonic.Nop, &Nop);
        table.SetAllGeneralForms(Mnemonic.Pause, &Nop);
        table.SetAllGeneralForms(Mnemonic.Ud2, &Ud2);
        table.SetAllGeneralForms(Mnemonic.Ud0, &Ud2);
        table.SetAllGeneralForms(Mnemonic.Ud1, &Ud2);
        foreach (var m in new[] { Mnemonic.Cmovo, Mnemonic.Cmovno, Mnemonic.Cmovb, Mnemonic.Cmovae, Mnemonic.Cmove, Mnemonic.Cmovne,
                     Mnemonic.Cmovbe, Mnemonic.Cmova, Mnemonic.Cmovs, Mnemonic.Cmovns, Mnemonic.Cmovp, Mnemonic.Cmovnp,
                     Mnemonic.Cmovl, Mnemonic.Cmovge, Mnemonic.Cmovle, Mnemonic.Cmovg })
            table.SetAllGeneralForms(m, &Cmov);
        foreach (var m in new[] { Mnemonic.Seto, Mnemonic.Setno, Mnemonic.Setb, Mnemonic.Setae, Mnemonic.Sete, Mnemonic.Setne,
                     Mnemonic.Setbe, Mnemonic.Seta, Mnemonic.Sets, Mnemonic.Setns, Mnemonic.Setp, Mnemonic.Setnp,
                     Mnemonic.Setl, Mnemonic.Setge, Mnemonic.Setle, Mnemonic.Setg })
            table.SetAllGeneralForms(m, &Set);
    }

    private static void Mov(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0);
        Write(cpu, i, 0, w, Read(cpu, i, 1, w));
    }

    private static void Movzx(CpuCore cpu, ref Instruction i) => Write(cpu, i, 0, Width(i, 0), Read(cpu, i, 1, Width(i, 1)));

    private static void Movsx(CpuCore cpu, ref Instruction i)
    {
        int source = Width(i, 1), destination = Width(i, 0);
        Write(cpu, i, 0, destination, SignExtend(Read(cpu, i, 1, source), source) & Mask(destination));
    }

    private static void Lea(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0);
        Write(cpu, i, 0, w, EffectiveAddress(cpu, i, withSegmentBase: false) & Mask(w));
    }

    private static void Xchg(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0);
        ulong a = Read(cpu, i, 0, w), b = Read(cpu, i, 1, w);
        Write(cpu, i, 1, w, a);
        Write(cpu, i, 0, w, b);
    }

    private static void Push(CpuCore cpu, ref Instruction i)
    {
        int w = -i.StackPointerIncrement;
        Stack.Push(cpu, Read(cpu, i, 0, w), w);
    }

    private static void Pop(CpuCore cpu, ref Instruction i)
    {
        int w = i.StackPointerIncrement;
        ulong value = Stack.Pop(cpu, w);
        Write(cpu, i, 0, w, value); // a memory destination addressed by RSP sees the incremented RSP, as on hardware
    }

    // CBW/CWDE/CDQE: AL->AX, AX->EAX, EAX->RAX.
    private static void SignExtendAccumulator(CpuCore cpu, ref Instruction i)
    {
        var (from, to) = i.Mnemonic switch { Mnemonic.Cbw => (1, 2), Mnemonic.Cwde => (2, 4), _ => (4, 8) };
        ulong value = SignExtend(cpu.Gpr[CpuCore.Rax] & Mask(from), from) & Mask(to);
        WriteRegister(cpu, to switch { 2 => Iced.Intel.Register.AX, 4 => Iced.Intel.Register.EAX, _ => Iced.Intel.Register.RAX }, value);
    }

    // CWD/CDQ/CQO: the sign of AX/EAX/RAX fills DX/EDX/RDX.
    private static void SignExtendIntoRdx(CpuCore cpu, ref Instruction i)
    {
        var (width, rdx) = i.Mnemonic switch
        {
            Mnemonic.Cwd => (2, Iced.Intel.Register.DX), Mnemonic.Cdq => (4, Iced.Intel.Register.EDX), _ => (8, Iced.Intel.Register.RDX),
        };
        bool negative = ((cpu.Gpr[CpuCore.Rax] >> (width * 8 - 1)) & 1) != 0;
        WriteRegister(cpu, rdx, negative ? Mask(width) : 0);
    }

    private static void Bswap(CpuCore cpu, ref Instruction i)
    {
        var register = i.Op0Register;
        ulong value = ReadRegister(cpu, register);
        WriteRegister(cpu, register, RegisterWidth(register) switch
        {
            8 => System.Buffers.Binary.BinaryPrimitives.ReverseEndianness(value),
            4 => System.Buffers.Binary.BinaryPrimitives.ReverseEndianness((uint)value),
            _ => 0, // BSWAP of a 16-bit register is undefined; processors give 0
        });
    }

    private static void Nop(CpuCore cpu, ref Instruction i) { }

    private static void Ud2(CpuCore cpu, ref Instruction i) => throw new GuestFault(GuestFault.InvalidOpcode);

    private static void Cmov(CpuCore cpu, ref Instruction i)
    {
        int w = Width(i, 0);
        ulong source = Read(cpu, i, 1, w); // read (and fault) whether or not the condition holds, as hardware does
        if (cpu.Flags.Holds(i.ConditionCode)) Write(cpu, i, 0, w, source);
        else if (w == 4) Write(cpu, i, 0, w, Read(cpu, i, 0, w)); // a 32-bit CMOV clears the upper half either way
    }

    private static void Set(CpuCore cpu, ref Instruction i) => Write(cpu, i, 0, 1, cpu.Flags.Holds(i.ConditionCode) ? 1UL : 0);
}
