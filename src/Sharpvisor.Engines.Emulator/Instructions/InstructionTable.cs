using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;

namespace Sharpvisor.Engines.Emulator.Instructions;

/// <summary>
/// Iced's instruction code (one value per encoding form) to the handler that executes it. Filled once at start-up
/// by the instruction groups; a form with no handler is unimplemented and stops the guest with a clear report.
/// A form may also have a specializer: called once when a block is decoded in 64-bit mode, it picks a handler made
/// for that instruction's exact operands (register or memory, width, addressing form), or 0 to keep the generic one.
/// </summary>
public sealed class InstructionTable
{
    private static int CodeCount => AllCodes.Count;
    private readonly unsafe delegate*<CpuCore, ref Instruction, void>[] _handlers = new delegate*<CpuCore, ref Instruction, void>[CodeCount];
    private readonly unsafe delegate*<in Instruction, nint>[] _specializers = new delegate*<in Instruction, nint>[CodeCount];

    public static InstructionTable Default { get; } = Build();

    private static InstructionTable Build()
    {
        var table = new InstructionTable();
        IntegerArithmetic.Register(table);
        DataMovement.Register(table);
        ControlFlow.Register(table);
        ShiftsAndRotates.Register(table);
        MultiplyDivide.Register(table);
        BitInstructions.Register(table);
        Atomics.Register(table);
        FlagInstructions.Register(table);
        StringInstructions.Register(table);
        StackFrames.Register(table);
        PushAll.Register(table);
        FlagsStack.Register(table);
        ProcessorInformation.Register(table);
        MemoryOrdering.Register(table);
        TableLookup.Register(table);
        Sse.SseInstructions.Register(table);
        X87.X87Instructions.Register(table);
        CacheControl.Register(table);
        SystemMode.SystemInstructions.Register(table); // INT3/INT1/INTO and RDTSC/RDTSCP are its own (they deliver events, read the guest clock)
        FeatureFallbacks.Register(table);
        return table;
    }

    /// <summary>
    /// In a class of its own: <see cref="Build"/> runs inside this class's static constructor, and until that returns
    /// every read of one of this class's static fields takes the runtime's class-initialization slow path; the form
    /// count, read once per code in <see cref="GeneralForms"/>, made that 150 of the build's 180 ms.
    /// </summary>
    private static class AllCodes
    {
        public static readonly int Count = (int)Enum.GetValues<Code>().Max() + 1;
    }

    public unsafe delegate*<CpuCore, ref Instruction, void> this[Code code] => _handlers[(int)code];

    public unsafe bool IsImplemented(Code code) => _handlers[(int)code] != null;

    /// <summary>A copy that runs every form through its generic handler (no specializers): to compare the two, or measure the gain.</summary>
    public unsafe InstructionTable WithoutSpecializers()
    {
        var copy = new InstructionTable();
        for (int k = 0; k < _handlers.Length; k++) copy._handlers[k] = _handlers[k];
        return copy;
    }

    /// <summary>Every implemented form.</summary>
    public unsafe IReadOnlyList<Code> ImplementedForms()
    {
        var forms = new List<Code>();
        for (int i = 0; i < _handlers.Length; i++)
            if (_handlers[i] != null) forms.Add((Code)i);
        return forms;
    }

    /// <summary>Sets one form's handler (and drops any specializer another group set for it).</summary>
    public unsafe void Set(Code code, delegate*<CpuCore, ref Instruction, void> handler)
    {
        _handlers[(int)code] = handler;
        _specializers[(int)code] = null;
    }

    /// <summary>
    /// Sets the specializer of an implemented form: given a decoded instruction of that form (64-bit code), it returns
    /// a handler (a delegate*&lt;CpuCore, ref Instruction, void&gt;) that behaves exactly as the generic one on it, or 0.
    /// </summary>
    public unsafe void SetSpecializer(Code code, delegate*<in Instruction, nint> specializer)
    {
        if (_handlers[(int)code] == null) throw new InvalidOperationException($"{code} has no handler to specialize");
        _specializers[(int)code] = specializer;
    }

    /// <summary>The handler to run for a decoded instruction: a specialized one when its form has one for it, else the generic one; 0 when unimplemented.</summary>
    public unsafe nint Resolve(in Instruction instruction, int bitness)
    {
        int code = (int)instruction.Code;
        var handler = _handlers[code];
        if (handler == null) return 0;
        var specializer = _specializers[code];
        if (specializer != null && bitness == 64)
        {
            nint specialized = specializer(instruction);
            if (specialized != 0) return specialized;
        }
        return (nint)handler;
    }

    /// <summary>
    /// Sets the handler of every legacy-encoded form of <paramref name="mnemonic"/> that is valid in 64-bit mode and
    /// whose operands are general registers, memory or immediates (not segment, control or vector registers).
    /// </summary>
    public unsafe void SetAllGeneralForms(Mnemonic mnemonic, delegate*<CpuCore, ref Instruction, void> handler)
    {
        foreach (var code in GeneralForms(mnemonic)) Set(code, handler);
    }

    /// <summary>Sets <paramref name="specializer"/> for every general form of <paramref name="mnemonic"/> (set their handler first).</summary>
    public unsafe void SetAllGeneralSpecializers(Mnemonic mnemonic, delegate*<in Instruction, nint> specializer)
    {
        foreach (var code in GeneralForms(mnemonic)) SetSpecializer(code, specializer);
    }

    public static IEnumerable<Code> GeneralForms(Mnemonic mnemonic)
    {
        for (int i = 0; i < CodeCount; i++)
        {
            var code = (Code)i;
            if (code.Mnemonic() != mnemonic) continue;
            var op = code.ToOpCode();
            if (op.Encoding != EncodingKind.Legacy || !op.Mode64) continue;
            // 16-bit near branches (66h in 64-bit mode) differ between Intel and AMD; far transfers load segments.
            if (IsSixteenBitOrFarBranch(code)) continue;
            bool general = true;
            for (int k = 0; k < op.OpCount; k++) general &= IsGeneralOperand(op.GetOpKind(k));
            if (general) yield return code;
        }
    }

    private static bool IsSixteenBitOrFarBranch(Code code)
    {
        var instruction = new Instruction { Code = code };
        if (instruction.FlowControl == FlowControl.Next) return false;
        string name = code.ToString();
        return name.EndsWith("16") || name.Contains("_m16") || name.Contains("w_") || name.EndsWith("w")
            || instruction.IsCallFar || instruction.IsCallFarIndirect || instruction.IsJmpFar || instruction.IsJmpFarIndirect;
    }

    private static bool IsGeneralOperand(OpCodeOperandKind kind)
    {
        string name = kind.ToString();
        return name.StartsWith("r8_") || name.StartsWith("r16_") || name.StartsWith("r32_") || name.StartsWith("r64_")
            || name.StartsWith("imm") || kind is OpCodeOperandKind.mem or OpCodeOperandKind.mem_offs or OpCodeOperandKind.al or OpCodeOperandKind.cl
                or OpCodeOperandKind.ax or OpCodeOperandKind.dx or OpCodeOperandKind.eax or OpCodeOperandKind.rax
                or OpCodeOperandKind.br16_1 or OpCodeOperandKind.br32_1 or OpCodeOperandKind.br64_1
                or OpCodeOperandKind.br16_2 or OpCodeOperandKind.br32_4 or OpCodeOperandKind.br64_4;
    }
}
