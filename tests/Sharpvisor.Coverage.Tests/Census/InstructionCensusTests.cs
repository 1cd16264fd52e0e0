using Iced.Intel;
using Sharpvisor.Coverage.Census;
using Sharpvisor.Coverage.Elf;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.Coverage.Tests.Census;

public class InstructionCensusTests
{
    [Fact]
    public void CountsEachFormByCode()
    {
        var census = new InstructionCensus("test");
        census.Add(AssembledCode.Region(a =>
        {
            a.add(rax, rbx);
            a.add(rcx, rdx);
            a.add(eax, 1);
            a.addps(xmm0, xmm1);
            a.ret();
        }));

        Assert.Equal(5, census.Instructions);
        Assert.Equal(0, census.InvalidDecodes);
        Assert.Equal(4, census.DistinctForms);
        Assert.Equal(2, census.CountOf(Code.Add_rm64_r64));
        Assert.Equal(1, census.CountOf(Code.Addps_xmm_xmmm128));
        Assert.Equal(1, census.CountOf(Code.Retnq));
        var forms = census.Forms();
        Assert.Equal(Code.Add_rm64_r64, forms[0].Code); // most frequent first
        Assert.Equal(Mnemonic.Add, forms[0].Mnemonic);
        Assert.Equal([CpuidFeature.X64], forms[0].Features);
        Assert.Equal(FormCategory.Sse, forms.Single(f => f.Code == Code.Addps_xmm_xmmm128).Category);
    }

    [Fact]
    public void UndecodableBytesAreCountedAndSkippedOneByteAtATime()
    {
        byte[] before = AssembledCode.Bytes(a => a.nop());
        byte[] after = AssembledCode.Bytes(a => { a.inc(rax); a.ret(); });
        // 0x06 (push es) and 0xD6 (salc) do not exist in 64-bit mode; a lone REX prefix at the end is cut off.
        byte[] code = [.. before, 0x06, 0xD6, .. after, 0x48];
        var census = new InstructionCensus("mixed");
        census.Add(new CodeRegion(".text", 0x1000, code));

        Assert.Equal(3, census.InvalidDecodes);
        Assert.Equal(3, census.Instructions);
        Assert.Equal(1, census.CountOf(Code.Inc_rm64));
        Assert.Equal(code.Length, census.BytesScanned);
    }

    [Fact]
    public void TotalsAddUpOverCensuses()
    {
        var first = new InstructionCensus("a");
        first.Add(AssembledCode.Region(a => { a.add(rax, rbx); a.ret(); }));
        var second = new InstructionCensus("b");
        second.Add(AssembledCode.Region(a => { a.add(rax, rbx); a.cpuid(); }));
        var total = new InstructionCensus("total");
        total.Add(first);
        total.Add(second);

        Assert.Equal(2, total.CountOf(Code.Add_rm64_r64));
        Assert.Equal(3, total.DistinctForms);
        Assert.Equal(4, total.Instructions);
        Assert.Equal(2, total.RegionCount);
    }

    [Fact]
    public void BaselineFilterDropsFormsNeedingUnadvertisedFeatures()
    {
        var census = new InstructionCensus("features");
        census.Add(AssembledCode.Region(a =>
        {
            a.add(rax, rbx);                      // X64
            a.paddd(xmm0, xmm1);                  // SSE2
            a.cmovne(eax, ecx);                   // CMOV
            a.vpxor(ymm0, ymm1, ymm2);            // AVX2
            a.vzeroupper();                       // AVX
            a.popcnt(rax, rcx);                   // POPCNT
            a.cmpxchg16b(__[rdi]);                // CMPXCHG16B
            a.pshufb(xmm0, xmm1);                 // SSSE3
            a.rdtscp();                           // RDTSCP
            a.rdtsc();                            // TSC
        }));

        var (reachable, excluded, runAsFallback) = census.Filter(CpuidFeatureSets.BaselineX86_64);
        Assert.Empty(runAsFallback);
        Assert.Equal(
            new[] { Code.Add_rm64_r64, Code.Paddd_xmm_xmmm128, Code.Cmovne_r32_rm32, Code.Rdtsc }.Order(),
            reachable.Select(f => f.Code).Order());
        Assert.Equal(
            new[] { Code.VEX_Vpxor_ymm_ymm_ymmm256, Code.VEX_Vzeroupper, Code.Popcnt_r64_rm64, Code.Cmpxchg16b_m128,
                    Code.Pshufb_xmm_xmmm128, Code.Rdtscp }.Order(),
            excluded.Select(f => f.Code).Order());

        var (all, none, _) = census.Filter(CpuidFeatureSets.All);
        Assert.Equal(10, all.Count);
        Assert.Empty(none);

        var custom = new HashSet<CpuidFeature>(CpuidFeatureSets.BaselineX86_64) { CpuidFeature.AVX, CpuidFeature.AVX2 };
        Assert.Contains(census.Filter(custom).Reachable, f => f.Code == Code.VEX_Vpxor_ymm_ymm_ymmm256);
    }

    [Fact]
    public void TzcntAndEndbrRunAsTheirOlderFormsWithoutTheirFeatures()
    {
        var census = new InstructionCensus("fallbacks");
        census.Add(AssembledCode.Region(a =>
        {
            a.endbr64();
            a.tzcnt(rax, rcx);
            a.tzcnt(rdx, rsi);
            a.bsf(rax, rcx);
            a.lzcnt(rax, rcx);
        }));

        var (reachable, excluded, runAsFallback) = census.Filter(CpuidFeatureSets.BaselineX86_64);
        Assert.Equal(3, reachable.Single(f => f.Code == Code.Bsf_r64_rm64).Count);
        Assert.Equal(1, reachable.Single(f => f.Code == Code.Reservednop_rm32_r32_0F1E).Count);
        Assert.Equal([Code.Tzcnt_r64_rm64, Code.Endbr64], runAsFallback.Select(f => f.Code));
        Assert.Equal([Code.Lzcnt_r64_rm64], excluded.Select(f => f.Code)); // BSR gives another result: no fallback

        var withBmi1 = new HashSet<CpuidFeature>(CpuidFeatureSets.BaselineX86_64) { CpuidFeature.BMI1 };
        Assert.Equal(2, census.Filter(withBmi1).Reachable.Single(f => f.Code == Code.Tzcnt_r64_rm64).Count);
    }

    [Theory]
    [InlineData(Code.Add_rm64_r64, FormCategory.GeneralPurpose)]
    [InlineData(Code.VEX_Andn_r64_r64_rm64, FormCategory.GeneralPurpose)] // BMI1: VEX-encoded but general-purpose registers
    [InlineData(Code.Lfence, FormCategory.GeneralPurpose)]                // SSE2 feature, no XMM register
    [InlineData(Code.Wrmsr, FormCategory.System)]
    [InlineData(Code.Cpuid, FormCategory.System)]
    [InlineData(Code.Syscall, FormCategory.System)]
    [InlineData(Code.Xsave_mem, FormCategory.System)]
    [InlineData(Code.Fld_m64fp, FormCategory.X87)]
    [InlineData(Code.Fcmovb_st0_sti, FormCategory.X87)]
    [InlineData(Code.Paddb_mm_mmm64, FormCategory.Mmx)]
    [InlineData(Code.Emms, FormCategory.Mmx)]
    [InlineData(Code.Addps_xmm_xmmm128, FormCategory.Sse)]
    [InlineData(Code.Ldmxcsr_m32, FormCategory.Sse)]
    [InlineData(Code.VEX_Vpxor_ymm_ymm_ymmm256, FormCategory.Avx)]
    [InlineData(Code.VEX_Vzeroupper, FormCategory.Avx)]
    [InlineData(Code.EVEX_Vmovdqu64_zmm_k1z_zmmm512, FormCategory.Avx)]
    [InlineData(Code.Mwait, FormCategory.System)]
    [InlineData(Code.Xbegin_rel32, FormCategory.Other)]                   // RTM
    public void ClassifiesForms(Code code, FormCategory expected)
    {
        Assert.Equal(expected, FormClassifier.Classify(code));
    }
}
