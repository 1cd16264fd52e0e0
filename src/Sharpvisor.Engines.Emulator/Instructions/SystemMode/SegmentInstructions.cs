using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using static Sharpvisor.Engines.Emulator.Execution.CpuCore;

namespace Sharpvisor.Engines.Emulator.Instructions.SystemMode;

/// <summary>
/// Segment-register loads and stores (MOV, PUSH, POP, LSS/LFS/LGS/LDS/LES) and far JMP, CALL and RET through code
/// segment descriptors (no call gates: a gate raises #GP(selector)), with the checks in <see cref="Segmentation"/>.
/// A load of SS opens the one-instruction interrupt shadow; a load of CS recomputes the code size.
/// </summary>
public static class SegmentInstructions
{
    public static unsafe void Register(InstructionTable table)
    {
        table.Set(Code.Mov_Sreg_rm16, &MoveToSegment);
        table.Set(Code.Mov_Sreg_r32m16, &MoveToSegment);
        table.Set(Code.Mov_Sreg_r64m16, &MoveToSegment);
        table.Set(Code.Mov_rm16_Sreg, &MoveFromSegment);
        table.Set(Code.Mov_r32m16_Sreg, &MoveFromSegment);
        table.Set(Code.Mov_r64m16_Sreg, &MoveFromSegment);
        foreach (var code in new[] { Code.Pushw_ES, Code.Pushw_CS, Code.Pushw_SS, Code.Pushw_DS, Code.Pushw_FS, Code.Pushw_GS,
                     Code.Pushd_ES, Code.Pushd_CS, Code.Pushd_SS, Code.Pushd_DS, Code.Pushd_FS, Code.Pushd_GS, Code.Pushq_FS, Code.Pushq_GS })
            table.Set(code, &PushSegment);
        foreach (var code in new[] { Code.Popw_ES, Code.Popw_SS, Code.Popw_DS, Code.Popw_FS, Code.Popw_GS,
                     Code.Popd_ES, Code.Popd_SS, Code.Popd_DS, Code.Popd_FS, Code.Popd_GS, Code.Popq_FS, Code.Popq_GS })
            table.Set(code, &PopSegment);
        foreach (var code in new[] { Code.Lss_r16_m1616, Code.Lss_r32_m1632, Code.Lss_r64_m1664, Code.Lfs_r16_m1616, Code.Lfs_r32_m1632,
                     Code.Lfs_r64_m1664, Code.Lgs_r16_m1616, Code.Lgs_r32_m1632, Code.Lgs_r64_m1664, Code.Lds_r16_m1616, Code.Lds_r32_m1632,
                     Code.Les_r16_m1616, Code.Les_r32_m1632 })
            table.Set(code, &LoadFarPointer);
        foreach (var code in new[] { Code.Jmp_ptr1616, Code.Jmp_ptr1632, Code.Jmp_m1616, Code.Jmp_m1632, Code.Jmp_m1664 })
            table.Set(code, &JumpFar);
        foreach (var code in new[] { Code.Call_ptr1616, Code.Call_ptr1632, Code.Call_m1616, Code.Call_m1632, Code.Call_m1664 })
            table.Set(code, &CallFar);
        foreach (var code in new[] { Code.Retfw, Code.Retfd, Code.Retfq, Code.Retfw_imm16, Code.Retfd_imm16, Code.Retfq_imm16 })
            table.Set(code, &ReturnFar);
    }

    /// <summary>Iced's ES..GS to the core's segment index.</summary>
    public static int SegmentIndex(Iced.Intel.Register register) => register switch
    {
        Iced.Intel.Register.ES => Es,
        Iced.Intel.Register.CS => Cs,
        Iced.Intel.Register.SS => Ss,
        Iced.Intel.Register.DS => Ds,
        Iced.Intel.Register.FS => Fs,
        Iced.Intel.Register.GS => Gs,
        _ => throw new GuestFault(GuestFault.InvalidOpcode), // ES..GS only; 8E with reg 6 or 7 is undefined
    };

    /// <summary>Loads ES, SS, DS, FS or GS (never CS: MOV and POP to CS are #UD).</summary>
    public static void Load(CpuCore cpu, int segment, ushort selector)
    {
        if (segment == Cs) throw new GuestFault(GuestFault.InvalidOpcode);
        if (segment == Ss)
        {
            Segmentation.LoadStackSegment(cpu, selector);
            cpu.InterruptShadow = true; // no interrupt between the SS load and the RSP load that follows it
            cpu.BlockExitRequested = true;
        }
        else Segmentation.LoadDataSegment(cpu, segment, selector);
    }

    private static void MoveToSegment(CpuCore cpu, ref Instruction i)
    {
        int segment = SegmentIndex(i.Op0Register);
        ushort selector = i.Op1Kind == OpKind.Register
            ? (ushort)Operands.ReadRegister(cpu, i.Op1Register)
            : (ushort)cpu.Memory.Read(Operands.EffectiveAddress(cpu, i), 2);
        Load(cpu, segment, selector);
    }

    /// <summary>To a register the selector is zero-extended to its size; to memory it is always a word.</summary>
    private static void MoveFromSegment(CpuCore cpu, ref Instruction i)
    {
        ushort selector = cpu.Segments[SegmentIndex(i.Op1Register)].Selector;
        if (i.Op0Kind == OpKind.Register) Operands.WriteRegister(cpu, i.Op0Register, selector);
        else cpu.Memory.Write(Operands.EffectiveAddress(cpu, i), 2, selector);
    }

    private static int PushPopWidth(in Instruction i) => i.Code switch
    {
        Code.Pushw_ES or Code.Pushw_CS or Code.Pushw_SS or Code.Pushw_DS or Code.Pushw_FS or Code.Pushw_GS
            or Code.Popw_ES or Code.Popw_SS or Code.Popw_DS or Code.Popw_FS or Code.Popw_GS => 2,
        Code.Pushq_FS or Code.Pushq_GS or Code.Popq_FS or Code.Popq_GS => 8,
        _ => 4,
    };

    private static void PushSegment(CpuCore cpu, ref Instruction i)
    {
        int width = PushPopWidth(i);
        SystemStack.Push(cpu, cpu.Segments[SegmentIndex(i.Op0Register)].Selector, width);
    }

    private static void PopSegment(CpuCore cpu, ref Instruction i)
    {
        int width = PushPopWidth(i);
        ushort selector = (ushort)SystemStack.Read(cpu, 0, width);
        int segment = SegmentIndex(i.Op0Register);
        Load(cpu, segment, selector);           // may fault: RSP is still as it was
        SystemStack.Adjust(cpu, width);
    }

    /// <summary>LSS/LFS/LGS/LDS/LES r, m16:16/32/64: the offset first in memory, then the selector.</summary>
    private static void LoadFarPointer(CpuCore cpu, ref Instruction i)
    {
        int width = Operands.RegisterWidth(i.Op0Register);
        ulong address = Operands.EffectiveAddress(cpu, i);
        ulong offset = cpu.Memory.Read(address, width);
        ushort selector = (ushort)cpu.Memory.Read(address + (ulong)width, 2);
        int segment = i.Mnemonic switch
        {
            Mnemonic.Lss => Ss,
            Mnemonic.Lfs => Fs,
            Mnemonic.Lgs => Gs,
            Mnemonic.Lds => Ds,
            _ => Es,
        };
        if (segment == Ss)
        {
            Segmentation.LoadStackSegment(cpu, selector); // LSS does not open an interrupt shadow
        }
        else Segmentation.LoadDataSegment(cpu, segment, selector);
        Operands.WriteRegister(cpu, i.Op0Register, offset);
    }

    /// <summary>The far pointer of a far JMP/CALL: an immediate ptr16:16/32 or m16:16/32/64.</summary>
    private static (ushort Selector, ulong Offset, int Width) FarTarget(CpuCore cpu, in Instruction i)
    {
        switch (i.Code)
        {
            case Code.Jmp_ptr1616 or Code.Call_ptr1616: return (i.FarBranchSelector, i.FarBranch16, 2);
            case Code.Jmp_ptr1632 or Code.Call_ptr1632: return (i.FarBranchSelector, i.FarBranch32, 4);
        }
        int width = i.Code is Code.Jmp_m1616 or Code.Call_m1616 ? 2 : i.Code is Code.Jmp_m1632 or Code.Call_m1632 ? 4 : 8;
        ulong address = Operands.EffectiveAddress(cpu, i);
        ulong offset = cpu.Memory.Read(address, width);
        ushort selector = (ushort)cpu.Memory.Read(address + (ulong)width, 2);
        return (selector, offset, width);
    }

    /// <summary>The target offset in the new code segment: canonical for 64-bit code, within 16 or 32 bits otherwise.</summary>
    private static ulong TargetOffset(CpuCore cpu, in SegmentCache cs, ulong offset)
    {
        if (cpu.LongModeActive && cs.Long)
        {
            if (!Segmentation.IsCanonical(offset)) throw new GuestFault(GuestFault.GeneralProtection, 0);
            return offset;
        }
        offset &= cs.DefaultBig ? 0xFFFF_FFFF : 0xFFFF;
        if (cpu.ProtectedMode && offset > cs.Limit) throw new GuestFault(GuestFault.GeneralProtection, 0);
        return offset;
    }

    private static void Enter(CpuCore cpu, in SegmentCache cs, ulong rip)
    {
        cpu.Segments[Cs] = cs;
        cpu.Rip = rip;
        cpu.UpdateBitness();
    }

    private static void JumpFar(CpuCore cpu, ref Instruction i)
    {
        var (selector, offset, _) = FarTarget(cpu, i);
        var cs = Segmentation.CheckFarBranchTarget(cpu, selector);
        Enter(cpu, cs, TargetOffset(cpu, cs, offset));
    }

    private static void CallFar(CpuCore cpu, ref Instruction i)
    {
        var (selector, offset, width) = FarTarget(cpu, i);
        var cs = Segmentation.CheckFarBranchTarget(cpu, selector);
        ulong rip = TargetOffset(cpu, cs, offset);
        // The return address (CS, then the offset) goes on the current stack before anything changes.
        SystemStack.Write(cpu, -width, width, cpu.Segments[Cs].Selector);
        SystemStack.Write(cpu, -2 * width, width, cpu.Rip);
        SystemStack.Adjust(cpu, -2 * width);
        Enter(cpu, cs, rip);
    }

    /// <summary>RETF [imm16]: to the same level, or to an outer one with SS:RSP popped too and the data segments checked.</summary>
    private static void ReturnFar(CpuCore cpu, ref Instruction i)
    {
        int width = i.Code is Code.Retfw or Code.Retfw_imm16 ? 2 : i.Code is Code.Retfd or Code.Retfd_imm16 ? 4 : 8;
        long release = i.OpCount == 1 ? i.Immediate16 : 0;
        ulong offset = SystemStack.Read(cpu, 0, width);
        ushort selector = (ushort)SystemStack.Read(cpu, width, width);
        var cs = Segmentation.CheckReturnTarget(cpu, selector);
        ulong rip = TargetOffset(cpu, cs, offset);
        int newCpl = cpu.ProtectedMode ? selector & Segmentation.RequestedPrivilegeMask : 0;
        if (newCpl > cpu.Cpl)
        {
            ulong rsp = SystemStack.Read(cpu, 2 * width + release, width);
            ushort ssSelector = (ushort)SystemStack.Read(cpu, 3 * width + release, width);
            var ss = Segmentation.CheckStackSegment(cpu, ssSelector, newCpl, GuestFault.GeneralProtection, cpu.LongModeActive && cs.Long);
            cpu.Segments[Ss] = ss;
            cpu.Gpr[Rsp] = rsp;
            cpu.Cpl = newCpl;
            Enter(cpu, cs, rip);
            SystemStack.Adjust(cpu, release);
            Segmentation.NullInaccessibleDataSegments(cpu);
            return;
        }
        SystemStack.Adjust(cpu, 2 * width + release);
        Enter(cpu, cs, rip);
    }
}
