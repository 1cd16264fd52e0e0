using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using static Sharpvisor.Engines.Emulator.Execution.Operands;

namespace Sharpvisor.Engines.Emulator.Instructions;

/// <summary>JMP, Jcc, CALL, RET, LOOP, JRCXZ. The interpreter has already set RIP to the next instruction.</summary>
public static unsafe class ControlFlow
{
    public static void Register(InstructionTable table)
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

        table.SetAllGeneralSpecializers(Mnemonic.Jmp, &SpecializeJmp);
        table.SetAllGeneralSpecializers(Mnemonic.Call, &SpecializeCall);
        table.SetAllGeneralSpecializers(Mnemonic.Ret, &SpecializeRet);
        foreach (var m in new[] { Mnemonic.Jo, Mnemonic.Jno, Mnemonic.Jb, Mnemonic.Jae, Mnemonic.Je, Mnemonic.Jne, Mnemonic.Jbe,
                     Mnemonic.Ja, Mnemonic.Js, Mnemonic.Jns, Mnemonic.Jp, Mnemonic.Jnp, Mnemonic.Jl, Mnemonic.Jge, Mnemonic.Jle, Mnemonic.Jg })
            table.SetAllGeneralSpecializers(m, &SpecializeJcc);
    }

    private static ulong Target(CpuCore cpu, in Instruction i) =>
        i.Op0Kind is OpKind.NearBranch64 or OpKind.NearBranch32 or OpKind.NearBranch16 ? i.NearBranchTarget : Read(cpu, i, 0, 8);

    private static void Jmp(CpuCore cpu, ref Instruction i) => cpu.Rip = Target(cpu, i);

    private static void Call(CpuCore cpu, ref Instruction i)
    {
        ulong target = Target(cpu, i);
        Stack.Push(cpu, cpu.Rip);
        cpu.Rip = target;
    }

    private static void Ret(CpuCore cpu, ref Instruction i)
    {
        ulong target = Stack.Pop(cpu);
        if (i.OpCount == 1) cpu.Gpr[CpuCore.Rsp] += i.Immediate16;
        cpu.Rip = target;
    }

    private static void Jcc(CpuCore cpu, ref Instruction i)
    {
        if (cpu.Flags.Holds(i.ConditionCode)) cpu.Rip = i.NearBranchTarget;
    }

    private static void Loop(CpuCore cpu, ref Instruction i)
    {
        bool wide = i.Code is not (Code.Loop_rel8_64_ECX or Code.Loope_rel8_64_ECX or Code.Loopne_rel8_64_ECX);
        ulong count = wide ? --cpu.Gpr[CpuCore.Rcx] : (uint)(cpu.Gpr[CpuCore.Rcx] = (uint)(cpu.Gpr[CpuCore.Rcx] - 1));
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
        ulong count = i.Mnemonic == Mnemonic.Jrcxz ? cpu.Gpr[CpuCore.Rcx] : (uint)cpu.Gpr[CpuCore.Rcx];
        if (count == 0) cpu.Rip = i.NearBranchTarget;
    }

    // Specialized forms (64-bit mode): relative branches read their target from the decoded instruction directly,
    // and a Jcc evaluates only the flags its condition needs.

    private static nint SpecializeJmp(in Instruction i) => i.Op0Kind switch
    {
        OpKind.NearBranch64 => FastOperands.Handler(&JmpRelative),
        OpKind.Register when FastOperands.RegisterWidth(i.Op0Register) == 8 => FastOperands.Handler(&JmpRegister),
        OpKind.Memory when FastOperands.WidthOf(i, 0) == 8 => FastOperands.ByAddress<JmpMemoryChoice>(i),
        _ => 0,
    };

    private static nint SpecializeCall(in Instruction i) => i.Op0Kind switch
    {
        OpKind.NearBranch64 => FastOperands.Handler(&CallRelative),
        OpKind.Register when FastOperands.RegisterWidth(i.Op0Register) == 8 => FastOperands.Handler(&CallRegister),
        OpKind.Memory when FastOperands.WidthOf(i, 0) == 8 => FastOperands.ByAddress<CallMemoryChoice>(i),
        _ => 0,
    };

    private readonly struct JmpMemoryChoice : IAddressChoice
    {
        public static nint For<TA>(in Instruction i) where TA : struct, IAddressForm => FastOperands.Handler(&JmpMemory<TA>);
    }

    private readonly struct CallMemoryChoice : IAddressChoice
    {
        public static nint For<TA>(in Instruction i) where TA : struct, IAddressForm => FastOperands.Handler(&CallMemory<TA>);
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

    private static nint SpecializeRet(in Instruction i) => i.OpCount == 0 && i.StackPointerIncrement == 8 ? FastOperands.Handler(&ReturnNear) : 0;

    private static nint SpecializeJcc(in Instruction i) => i.Op0Kind == OpKind.NearBranch64 ? FastOperands.ByCondition<JccChoice>(i) : 0;

    private readonly struct JccChoice : IConditionChoice
    {
        public static nint For<TC>(in Instruction i) where TC : struct, ICondition => FastOperands.Handler(&JccRelative<TC>);
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
