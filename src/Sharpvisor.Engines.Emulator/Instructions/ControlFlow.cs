using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using static Sharpvisor.Engines.Emulator.Execution.Operands;

namespace Sharpvisor.Engines.Emulator.Instructions;

/// <summary>JMP, Jcc, CALL, RET, LOOP, JRCXZ. The interpreter has already set RIP to the next instruction.</summary>
public static class ControlFlow
{
    public static unsafe void Register(InstructionTable table)
    {
        table.SetAllGeneralForms(Mnemonic.Jmp, &Jmp);
        table.SetAllGeneralForms(Mnemonic.Call, &Call);
        table.SetAllGeneralForms(Mnemonic.Ret, &Ret);
        foreach (var m in new[] { Mnemonic.Jo, Mnemonic.Jno, Mnemonic.Jb, Mnemonic.Jae, Mnemonic.Je, Mnemonic.Jne, Mnemonic.Jbe,
                     Mnemonic.Ja, Mnemonic.Js, Mnemonic.Jns, Mnemonic.Jp, Mnemonic.Jnp, Mnemonic.Jl, Mnemonic.Jge, Mnemonic.Jle, Mnemonic.Jg })
            table.SetAllGeneralForms(m, &Jcc);
        table.SetAllGeneralForms(Mnemonic.Loop, &Loop);
        table.SetAllGeneralForms(Mnemonic.Loope, &Loop);
        table.SetAllGeneralForms(Mnemonic.Loopne, &Loop);
        table.SetAllGeneralForms(Mnemonic.Jrcxz, &Jcxz);
        table.SetAllGeneralForms(Mnemonic.Jecxz, &Jcxz);
        // Outside 64-bit mode: the 16- and 32-bit forms (rel16/rel32 branches, r/m16 and r/m32 targets, 16-bit returns,
        // JCXZ and LOOP on CX). GeneralForms leaves them out: they are not valid in 64-bit mode, or differ there.
        foreach (var code in LegacyNearBranchForms())
        {
            if (table.IsImplemented(code)) continue;
            var m = code.Mnemonic();
            if (m == Mnemonic.Jmp) table.Set(code, &Jmp);
            else if (m == Mnemonic.Call) table.Set(code, &Call);
            else if (m == Mnemonic.Ret) table.Set(code, &Ret);
            else if (m is Mnemonic.Loop or Mnemonic.Loope or Mnemonic.Loopne) table.Set(code, &Loop);
            else if (m is Mnemonic.Jcxz or Mnemonic.Jecxz) table.Set(code, &Jcxz);
            else table.Set(code, &Jcc);
        }

        table.SetAllGeneralSpecializers(Mnemonic.Jmp, &SpecializeJmp);
        table.SetAllGeneralSpecializers(Mnemonic.Call, &SpecializeCall);
        table.SetAllGeneralSpecializers(Mnemonic.Ret, &SpecializeRet);
        foreach (var m in new[] { Mnemonic.Jo, Mnemonic.Jno, Mnemonic.Jb, Mnemonic.Jae, Mnemonic.Je, Mnemonic.Jne, Mnemonic.Jbe,
                     Mnemonic.Ja, Mnemonic.Js, Mnemonic.Jns, Mnemonic.Jp, Mnemonic.Jnp, Mnemonic.Jl, Mnemonic.Jge, Mnemonic.Jle, Mnemonic.Jg })
            table.SetAllGeneralSpecializers(m, &SpecializeJcc);
    }

    /// <summary>Every near JMP/CALL/RET/Jcc/LOOP/JCXZ form; those the 64-bit forms above did not cover serve 16- and 32-bit code.</summary>
    private static IEnumerable<Code> LegacyNearBranchForms()
    {
        foreach (var code in Enum.GetValues<Code>())
        {
            var op = code.ToOpCode();
            if (op.Encoding != EncodingKind.Legacy) continue;
            var instruction = new Instruction { Code = code };
            if (instruction.IsCallFar || instruction.IsCallFarIndirect || instruction.IsJmpFar || instruction.IsJmpFarIndirect) continue;
            var m = code.Mnemonic();
            bool branch = instruction.FlowControl is FlowControl.UnconditionalBranch or FlowControl.ConditionalBranch
                or FlowControl.IndirectBranch or FlowControl.Call or FlowControl.IndirectCall or FlowControl.Return;
            if (!branch || m is Mnemonic.Iret or Mnemonic.Iretd or Mnemonic.Iretq or Mnemonic.Retf or Mnemonic.Xbegin
                or Mnemonic.Jmpe or Mnemonic.Syscall or Mnemonic.Sysret or Mnemonic.Sysretq or Mnemonic.Sysexit
                or Mnemonic.Sysexitq or Mnemonic.Int or Mnemonic.Int1 or Mnemonic.Int3 or Mnemonic.Into) continue;
            if (code.ToString().Contains("Sreg")) continue;
            yield return code;
        }
    }

    // Generic forms, for every code size. Relative targets come from Iced already truncated to the operand size
    // (16 or 32 bits outside 64-bit mode); indirect ones are read at the operand's width. CALL pushes and RET pops
    // the return address at the operand size, on the stack SS.B selects outside 64-bit mode.

    private static ulong Target(CpuCore cpu, in Instruction i) =>
        i.Op0Kind is OpKind.NearBranch64 or OpKind.NearBranch32 or OpKind.NearBranch16 ? i.NearBranchTarget : Read(cpu, i, 0, Width(i, 0));

    private static void Jmp(CpuCore cpu, ref Instruction i) => cpu.Rip = Target(cpu, i);

    private static void Call(CpuCore cpu, ref Instruction i)
    {
        ulong target = Target(cpu, i);
        int width = -i.StackPointerIncrement;
        Stack.Push(cpu, cpu.Rip & Mask(width), width);
        cpu.Rip = target;
    }

    private static void Ret(CpuCore cpu, ref Instruction i)
    {
        int width = i.Code switch
        {
            Code.Retnw or Code.Retnw_imm16 => 2,
            Code.Retnd or Code.Retnd_imm16 => 4,
            _ => 8,
        };
        ulong target = Stack.Pop(cpu, width);
        if (i.OpCount == 1)
        {
            if (cpu.Bitness == 64) cpu.Gpr[CpuCore.Rsp] += i.Immediate16;
            else SystemMode.SystemStack.Adjust(cpu, i.Immediate16);
        }
        cpu.Rip = target;
    }

    private static void Jcc(CpuCore cpu, ref Instruction i)
    {
        if (cpu.Flags.Holds(i.ConditionCode)) cpu.Rip = i.NearBranchTarget;
    }

    /// <summary>The count register LOOP and JCXZ use: CX, ECX or RCX by the address size (Iced names it in the code).</summary>
    private static int CountWidth(Code code) => code switch
    {
        Code.Loop_rel8_16_CX or Code.Loop_rel8_32_CX or Code.Loope_rel8_16_CX or Code.Loope_rel8_32_CX
            or Code.Loopne_rel8_16_CX or Code.Loopne_rel8_32_CX or Code.Jcxz_rel8_16 or Code.Jcxz_rel8_32 => 2,
        Code.Loop_rel8_16_ECX or Code.Loop_rel8_32_ECX or Code.Loop_rel8_64_ECX or Code.Loope_rel8_16_ECX
            or Code.Loope_rel8_32_ECX or Code.Loope_rel8_64_ECX or Code.Loopne_rel8_16_ECX or Code.Loopne_rel8_32_ECX
            or Code.Loopne_rel8_64_ECX or Code.Jecxz_rel8_16 or Code.Jecxz_rel8_32 or Code.Jecxz_rel8_64 => 4,
        _ => 8,
    };

    private static void Loop(CpuCore cpu, ref Instruction i)
    {
        int width = CountWidth(i.Code);
        ref ulong rcx = ref cpu.Gpr[CpuCore.Rcx];
        ulong count;
        if (width == 8) count = --rcx;
        else if (width == 4) count = rcx = (uint)(rcx - 1);
        else
        {
            count = (rcx - 1) & 0xFFFF;
            rcx = (rcx & ~0xFFFFUL) | count;
        }
        bool taken = count != 0 && i.Mnemonic switch
        {
            Mnemonic.Loope => cpu.Flags.Zero,
            Mnemonic.Loopne => !cpu.Flags.Zero,
            _ => true,
        };
        if (taken) cpu.Rip = i.NearBranchTarget;
    }

    private static void Jcxz(CpuCore cpu, ref Instruction i)
    {
        if ((cpu.Gpr[CpuCore.Rcx] & Mask(CountWidth(i.Code))) == 0) cpu.Rip = i.NearBranchTarget;
    }

    // Specialized forms (64-bit mode): relative branches read their target from the decoded instruction directly,
    // and a Jcc evaluates only the flags its condition needs.

    private static unsafe nint SpecializeJmp(in Instruction i) => i.Op0Kind switch
    {
        OpKind.NearBranch64 => FastOperands.Handler(&JmpRelative),
        OpKind.Register when FastOperands.RegisterWidth(i.Op0Register) == 8 => FastOperands.Handler(&JmpRegister),
        OpKind.Memory when FastOperands.WidthOf(i, 0) == 8 => FastOperands.ByAddress<JmpMemoryChoice>(i),
        _ => 0,
    };

    private static unsafe nint SpecializeCall(in Instruction i) => i.Op0Kind switch
    {
        OpKind.NearBranch64 => FastOperands.Handler(&CallRelative),
        OpKind.Register when FastOperands.RegisterWidth(i.Op0Register) == 8 => FastOperands.Handler(&CallRegister),
        OpKind.Memory when FastOperands.WidthOf(i, 0) == 8 => FastOperands.ByAddress<CallMemoryChoice>(i),
        _ => 0,
    };

    private readonly struct JmpMemoryChoice : IAddressChoice
    {
        public static unsafe nint For<TA>(in Instruction i) where TA : struct, IAddressForm => FastOperands.Handler(&JmpMemory<TA>);
    }

    private readonly struct CallMemoryChoice : IAddressChoice
    {
        public static unsafe nint For<TA>(in Instruction i) where TA : struct, IAddressForm => FastOperands.Handler(&CallMemory<TA>);
    }

    private static void JmpRegister(CpuCore cpu, ref Instruction i) => cpu.Rip = FastOperands.Gpr<Width8>(cpu, i.Op0Register);

    private static void JmpMemory<TA>(CpuCore cpu, ref Instruction i) where TA : struct, IAddressForm =>
        cpu.Rip = cpu.Memory.Read(TA.Compute(cpu, i), 8);

    private static void CallRegister(CpuCore cpu, ref Instruction i)
    {
        ulong target = FastOperands.Gpr<Width8>(cpu, i.Op0Register);
        Stack.Push(cpu, cpu.Rip);
        cpu.Rip = target;
    }

    private static void CallMemory<TA>(CpuCore cpu, ref Instruction i) where TA : struct, IAddressForm
    {
        ulong target = cpu.Memory.Read(TA.Compute(cpu, i), 8);
        Stack.Push(cpu, cpu.Rip);
        cpu.Rip = target;
    }

    private static unsafe nint SpecializeRet(in Instruction i) => i.OpCount == 0 && i.StackPointerIncrement == 8 ? FastOperands.Handler(&ReturnNear) : 0;

    private static nint SpecializeJcc(in Instruction i) => i.Op0Kind == OpKind.NearBranch64 ? FastOperands.ByCondition<JccChoice>(i) : 0;

    private readonly struct JccChoice : IConditionChoice
    {
        public static unsafe nint For<TC>(in Instruction i) where TC : struct, ICondition => FastOperands.Handler(&JccRelative<TC>);
    }

    private static void JmpRelative(CpuCore cpu, ref Instruction i) => cpu.Rip = i.NearBranch64;

    private static void CallRelative(CpuCore cpu, ref Instruction i)
    {
        Stack.Push(cpu, cpu.Rip);
        cpu.Rip = i.NearBranch64;
    }

    private static void ReturnNear(CpuCore cpu, ref Instruction i) => cpu.Rip = Stack.Pop(cpu);

    private static void JccRelative<TC>(CpuCore cpu, ref Instruction i) where TC : struct, ICondition
    {
        if (TC.Holds(cpu.Flags)) cpu.Rip = i.NearBranch64;
    }
}
