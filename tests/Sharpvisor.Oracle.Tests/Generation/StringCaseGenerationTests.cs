using Iced.Intel;
using Sharpvisor.Oracle.Generation;

namespace Sharpvisor.Oracle.Tests.Generation;

public sealed class StringCaseGenerationTests
{
    private static readonly Code[] StringForms =
    [
        Code.Movsb_m8_m8, Code.Movsq_m64_m64, Code.Stosd_m32_EAX, Code.Lodsw_AX_m16, Code.Cmpsb_m8_m8, Code.Scasq_RAX_m64,
    ];

    [Fact]
    public void String_cases_point_rsi_and_rdi_into_the_window_with_a_small_count_and_varied_prefixes()
    {
        var generator = new CaseGenerator(5);
        foreach (Code code in StringForms)
        {
            Assert.True(CaseGenerator.IsSupported(code));
            bool compares = code is Code.Cmpsb_m8_m8 or Code.Scasq_RAX_m64;
            int plain = 0, rep = 0, repne = 0, backwards = 0;
            for (int i = 0; i < 200; i++)
            {
                InstructionCase c = generator.Generate(code);
                var decoder = Decoder.Create(64, new ByteArrayCodeReader(c.Code));
                decoder.Decode(out Instruction decoded);
                Assert.Equal(code, decoded.Code);
                Assert.Equal(c.Code.Length, decoded.Length);
                foreach (int register in new[] { GprIndex.Rsi, GprIndex.Rdi })
                {
                    Assert.NotEqual(0, c.PointerRegisters & (1 << register));
                    ulong offset = c.Gprs[register] - InstructionCase.CanonicalWindowBase;
                    Assert.InRange(offset, 16UL * 8, (ulong)InstructionCase.WindowSize - 16 * 8 - 8);
                }
                Assert.InRange(c.Gprs[GprIndex.Rcx], 0UL, 16UL);
                if (decoded.HasRepnePrefix) repne++;
                else if (decoded.HasRepPrefix) rep++;
                else plain++;
                if ((c.Rflags & 0x400) != 0) backwards++;
            }
            Assert.True(plain > 0 && rep > 0 && backwards > 0, $"{code}: {plain} plain, {rep} rep, {backwards} with DF");
            Assert.Equal(compares, repne > 0);
        }
    }

    [Fact]
    public void Host_dependent_instructions_are_not_generated()
    {
        foreach (Code code in new[] { Code.Cpuid, Code.Rdtsc, Code.Rdtscp })
            Assert.False(CaseGenerator.IsSupported(code), code.ToString());
        Assert.True(CaseGenerator.IsSupported(Code.Xlat_m8));
        Assert.True(CaseGenerator.IsSupported(Code.Enterq_imm16_imm8));
    }
}
