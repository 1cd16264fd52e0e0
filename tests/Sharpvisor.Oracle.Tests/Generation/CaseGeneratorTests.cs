using Iced.Intel;
using Sharpvisor.Oracle.Generation;
using Sharpvisor.Oracle.Isolation;
using Sharpvisor.Oracle.Native;

namespace Sharpvisor.Oracle.Tests.Generation;

public sealed class CaseGeneratorTests
{
    private static readonly Code[] SafeForms =
    [
        Code.Add_rm64_r64, Code.Adc_r32_rm32, Code.Sub_rm8_imm8, Code.Sbb_r16_rm16, Code.Imul_r64_rm64, Code.Imul_r32_rm32_imm32,
        Code.Xchg_rm64_r64, Code.Bswap_r64, Code.Push_r64, Code.Pop_r64, Code.Push_rm64, Code.Shl_rm32_CL, Code.Rol_rm64_imm8,
        Code.Pxor_xmm_xmmm128, Code.Movdqa_xmm_xmmm128, Code.Paddq_xmm_xmmm128, Code.And_EAX_imm32, Code.Mul_rm64,
        Code.Cmovne_r64_rm64, Code.Neg_rm16, Code.Movzx_r64_rm8, Code.Lea_r64_m, Code.Xadd_rm32_r32, Code.Cmpxchg_rm64_r64,
    ];

    [Fact]
    public void The_same_seed_gives_the_same_cases()
    {
        var first = new CaseGenerator(99);
        var second = new CaseGenerator(99);
        for (int i = 0; i < 50; i++)
        {
            InstructionCase a = first.Generate(Code.Add_rm64_r64), b = second.Generate(Code.Add_rm64_r64);
            Assert.Equal(a.Code, b.Code);
            Assert.Equal(a.Gprs, b.Gprs);
            Assert.Equal(a.Memory, b.Memory);
        }
    }

    [Fact]
    public void Generated_cases_decode_to_the_requested_form_and_stay_inside_the_window()
    {
        var generator = new CaseGenerator(1);
        foreach (Code code in SafeForms)
            foreach (OperandForm form in new[] { OperandForm.Register, OperandForm.Memory })
            {
                if (!CaseGenerator.IsSupported(code, form)) { Assert.True(form == OperandForm.Memory && !HasMemory(code) || form == OperandForm.Register && code == Code.Lea_r64_m, $"{code} {form}"); continue; }
                for (int i = 0; i < 100; i++)
                {
                    InstructionCase c = generator.Generate(code, form);
                    var decoder = Decoder.Create(64, new ByteArrayCodeReader(c.Code));
                    decoder.Decode(out Instruction decoded);
                    Assert.Equal(code, decoded.Code);
                    Assert.Equal(c.Code.Length, decoded.Length);
                    Assert.Equal(form == OperandForm.Memory, decoded.Op0Kind == OpKind.Memory || decoded.Op1Kind == OpKind.Memory);
                    Assert.True(CaseSafety.IsKnownSafe(c), $"{decoded} with {string.Join(',', c.Gprs.Select(g => g.ToString("X")))}");
                    Assert.Equal(InstructionCase.CanonicalWindowBase + InstructionCase.DefaultStackOffset, c.Gprs[GprIndex.Rsp]);
                }
            }
    }

    [Fact]
    public void Safety_rejects_what_can_fault()
    {
        var generator = new CaseGenerator(3);
        Assert.False(CaseSafety.IsKnownSafe(generator.Generate(Code.Div_rm64, OperandForm.Register)));
        Assert.False(CaseSafety.IsKnownSafe(InstructionCase.Create([0x0F, 0x0B]))); // ud2
        var wild = InstructionCase.Create([0x48, 0x8B, 0x03]); // mov rax, [rbx]
        wild.Gprs[GprIndex.Rbx] = 0x10;
        Assert.False(CaseSafety.IsKnownSafe(wild));
        wild.Gprs[GprIndex.Rbx] = InstructionCase.CanonicalWindowBase + InstructionCase.WindowSize - 8;
        Assert.True(CaseSafety.IsKnownSafe(wild));
        wild.Gprs[GprIndex.Rbx] += 1;
        Assert.False(CaseSafety.IsKnownSafe(wild));
    }

    [Fact]
    public void In_process_and_worker_runs_of_generated_cases_agree()
    {
        var generator = new CaseGenerator(2024);
        var cases = new List<InstructionCase>();
        foreach (Code code in SafeForms)
            for (int i = 0; i < 20; i++)
                cases.Add(generator.Generate(code, CaseGenerator.IsSupported(code, OperandForm.Memory) && (i % 2 == 0 || !CaseGenerator.IsSupported(code, OperandForm.Register)) ? OperandForm.Memory : OperandForm.Register));
        using var local = new NativeInstructionRunner(placeWindowAtCanonicalAddress: false);
        using var isolated = new IsolatedNativeRunner();
        InstructionOutcome[] remote = isolated.RunBatch(cases);
        for (int i = 0; i < cases.Count; i++)
        {
            InstructionOutcome here = local.Run(cases[i]);
            Assert.Equal(FaultKind.None, here.Fault.Kind);
            Assert.True(here.DescribeDifferences(remote[i]) == "", $"{Describe(cases[i])}: {here.DescribeDifferences(remote[i])}");
        }
    }

    [Fact]
    public void Generated_divisions_either_fault_with_DE_or_satisfy_the_division_identity()
    {
        var generator = new CaseGenerator(11);
        var cases = Enumerable.Range(0, 60).Select(_ => generator.Generate(Code.Div_rm32, OperandForm.Register)).ToList();
        using var isolated = new IsolatedNativeRunner();
        InstructionOutcome[] outcomes = isolated.RunBatch(cases);
        int faults = 0;
        for (int i = 0; i < cases.Count; i++)
        {
            var decoder = Decoder.Create(64, new ByteArrayCodeReader(cases[i].Code));
            decoder.Decode(out Instruction div);
            uint divisor = (uint)cases[i].Gprs[GprIndex.Of(div.Op0Register)];
            ulong dividend = ((cases[i].Gprs[GprIndex.Rdx] & 0xFFFF_FFFF) << 32) | (cases[i].Gprs[GprIndex.Rax] & 0xFFFF_FFFF);
            bool mustFault = divisor == 0 || dividend / divisor > uint.MaxValue;
            Assert.Equal(mustFault, outcomes[i].Fault.IsFault);
            if (mustFault) { faults++; Assert.Equal(FaultKind.DivideError, outcomes[i].Fault.Kind); continue; }
            Assert.Equal(dividend / divisor, outcomes[i].Gprs[GprIndex.Rax]);
            Assert.Equal(dividend % divisor, outcomes[i].Gprs[GprIndex.Rdx]);
        }
        Assert.InRange(faults, 1, cases.Count - 1);
        Assert.Equal(1, isolated.WorkerStarts);
    }

    private static string Describe(InstructionCase c)
    {
        var decoder = Decoder.Create(64, new ByteArrayCodeReader(c.Code));
        decoder.Decode(out Instruction instruction);
        return $"{instruction} (pointers 0x{c.PointerRegisters:X})";
    }

    private static bool HasMemory(Code code)
    {
        OpCodeInfo op = code.ToOpCode();
        for (int i = 0; i < op.OpCount; i++)
            if (op.GetOpKind(i) is OpCodeOperandKind.mem or OpCodeOperandKind.r8_or_mem or OpCodeOperandKind.r16_or_mem
                or OpCodeOperandKind.r32_or_mem or OpCodeOperandKind.r64_or_mem or OpCodeOperandKind.xmm_or_mem) return true;
        return false;
    }
}
