using System.Runtime.CompilerServices;
using Iced.Intel;

namespace Sharpvisor.Engines.Emulator.Execution;

/// <summary>
/// Operand access for handlers specialized at decode time (64-bit mode only): a register by number without bounds
/// checks, and the choice of a handler instantiation from an instruction's operand kinds, widths, addressing form,
/// immediate form and condition. Each choice is a small generic "visitor" struct, so one selector serves every
/// operation of a family and the JIT compiles only the instantiations guest code actually uses.
/// </summary>
internal static class FastOperands
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ref ulong Gpr(CpuCore cpu, int index) =>
        ref Unsafe.Add(ref Unsafe.As<GeneralRegisterFile, ulong>(ref cpu.Gpr), (nint)(uint)index);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ref ulong Gpr<TW>(CpuCore cpu, Register register) where TW : struct, IOperandWidth => ref Gpr(cpu, TW.GprIndex(register));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Gpr64(CpuCore cpu, Register register) => Gpr(cpu, register - Register.RAX);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static unsafe nint Handler(delegate*<CpuCore, ref Instruction, void> handler) => (nint)handler;

    /// <summary>Whether a specialized handler may stand in for the generic one (LOCK stays generic: SMP will give it real atomicity).</summary>
    public static bool Specializable(in Instruction i) => !i.HasLockPrefix;

    /// <summary>A general register's width in bytes, or 0 for AH..BH and anything that is not a general register.</summary>
    public static int RegisterWidth(Register register) =>
        !register.IsGPR() || register is Register.AH or Register.CH or Register.DH or Register.BH ? 0 : register.GetSize();

    /// <summary>The width of operand <paramref name="operand"/> when it is a register or memory, else 0.</summary>
    public static int WidthOf(in Instruction i, int operand) => i.GetOpKind(operand) switch
    {
        OpKind.Register => RegisterWidth(i.GetOpRegister(operand)),
        OpKind.Memory => i.MemorySize.GetSize() is var size and (1 or 2 or 4 or 8) ? size : 0,
        _ => 0,
    };

    public static bool IsImmediate(OpKind kind) => kind is OpKind.Immediate8 or OpKind.Immediate16 or OpKind.Immediate32
        or OpKind.Immediate64 or OpKind.Immediate8to16 or OpKind.Immediate8to32 or OpKind.Immediate8to64 or OpKind.Immediate32to64;

    public static nint ByWidth<TChoice>(int bytes, in Instruction i) where TChoice : struct, IWidthChoice => bytes switch
    {
        1 => TChoice.For<Width1>(i),
        2 => TChoice.For<Width2>(i),
        4 => TChoice.For<Width4>(i),
        8 => TChoice.For<Width8>(i),
        _ => 0,
    };

    /// <summary>Picks by the memory operand's addressing form; 0 for 32-bit addressing (67h), which stays generic.</summary>
    public static nint ByAddress<TChoice>(in Instruction i) where TChoice : struct, IAddressChoice
    {
        var @base = i.MemoryBase;
        var index = i.MemoryIndex;
        bool base64 = @base is Register.None or Register.RIP || @base.IsGPR64();
        if (!base64 || !(index == Register.None || index.IsGPR64())) return 0;
        if (i.MemorySegment is Register.FS or Register.GS) return TChoice.For<SegmentedAddress>(i);
        bool noBase = @base is Register.None or Register.RIP;
        if (index == Register.None) return noBase ? TChoice.For<AbsoluteAddress>(i) : TChoice.For<BaseAddress>(i);
        return noBase ? TChoice.For<IndexAddress>(i) : TChoice.For<BaseIndexAddress>(i);
    }

    /// <summary>
    /// Picks by the form of the immediate in operand <paramref name="operand"/> for an operation of <paramref name="width"/>
    /// bytes; the forms read it as the generic path does (sign-extended, then masked to the width).
    /// </summary>
    public static nint ByImmediate<TChoice>(in Instruction i, int operand, int width) where TChoice : struct, IImmediateChoice =>
        (i.GetOpKind(operand), width) switch
        {
            (OpKind.Immediate8to16 or OpKind.Immediate8to32 or OpKind.Immediate8to64, _) => TChoice.For<SignExtendedImmediate8>(i),
            (OpKind.Immediate8, 1) or (OpKind.Immediate16, 2) or (OpKind.Immediate32, 4) or (OpKind.Immediate32to64, 8) => TChoice.For<NaturalImmediate>(i),
            (OpKind.Immediate64, 8) => TChoice.For<FullImmediate64>(i),
            _ => 0,
        };

    public static nint ByCondition<TChoice>(in Instruction i) where TChoice : struct, IConditionChoice => i.ConditionCode switch
    {
        ConditionCode.o => TChoice.For<ConditionO>(i),
        ConditionCode.no => TChoice.For<ConditionNo>(i),
        ConditionCode.b => TChoice.For<ConditionB>(i),
        ConditionCode.ae => TChoice.For<ConditionAe>(i),
        ConditionCode.e => TChoice.For<ConditionE>(i),
        ConditionCode.ne => TChoice.For<ConditionNe>(i),
        ConditionCode.be => TChoice.For<ConditionBe>(i),
        ConditionCode.a => TChoice.For<ConditionA>(i),
        ConditionCode.s => TChoice.For<ConditionS>(i),
        ConditionCode.ns => TChoice.For<ConditionNs>(i),
        ConditionCode.p => TChoice.For<ConditionP>(i),
        ConditionCode.np => TChoice.For<ConditionNp>(i),
        ConditionCode.l => TChoice.For<ConditionL>(i),
        ConditionCode.ge => TChoice.For<ConditionGe>(i),
        ConditionCode.le => TChoice.For<ConditionLe>(i),
        ConditionCode.g => TChoice.For<ConditionG>(i),
        _ => 0,
    };
}

/// <summary>Returns the handler instantiation for a width (see <see cref="FastOperands.ByWidth{TChoice}"/>).</summary>
internal interface IWidthChoice
{
    static abstract nint For<TW>(in Instruction i) where TW : struct, IOperandWidth;
}

/// <summary>Returns the handler instantiation for an addressing form.</summary>
internal interface IAddressChoice
{
    static abstract nint For<TA>(in Instruction i) where TA : struct, IAddressForm;
}

/// <summary>Returns the handler instantiation for an immediate form.</summary>
internal interface IImmediateChoice
{
    static abstract nint For<TI>(in Instruction i) where TI : struct, IImmediate;
}

/// <summary>Returns the handler instantiation for a condition.</summary>
internal interface IConditionChoice
{
    static abstract nint For<TC>(in Instruction i) where TC : struct, ICondition;
}
