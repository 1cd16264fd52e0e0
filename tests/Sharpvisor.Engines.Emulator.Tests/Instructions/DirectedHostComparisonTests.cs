using Iced.Intel;
using Sharpvisor.Engines.Emulator.Tests.Oracle;
using Sharpvisor.Oracle;
using Sharpvisor.Oracle.Isolation;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.Engines.Emulator.Tests.Instructions;

/// <summary>
/// Edge cases the random generator reaches rarely or never, run on the host CPU and on the emulator from the same
/// chosen inputs: the emulator must match the host, and the host must show the behaviour the emulator's comments
/// claim (so a different host CPU that behaves otherwise is reported, not silently matched).
/// </summary>
public class DirectedHostComparisonTests
{
    private const ulong Window = InstructionCase.CanonicalWindowBase;

    public static TheoryData<string> Cases() => new(Directed.Keys.Order());

    private static readonly Dictionary<string, (Action<Assembler> Emit, Action<ulong[]> Set, Action<InstructionOutcome> Expect)> Directed = new()
    {
        // A zero source sets ZF and leaves the whole destination register alone (no zero-extension of a 32-bit one).
        ["bsf r32, zero"] = (a => a.bsf(eax, ecx), g => { g[0] = 0xFFFF_FFFF_1234_5678; g[1] = 0xABCD_0000_0000_0000; },
            o => { Assert.Equal(0xFFFF_FFFF_1234_5678UL, o.Gprs[0]); Assert.NotEqual(0UL, o.Rflags & 0x40); }),
        ["bsr r64, zero"] = (a => a.bsr(rax, rcx), g => { g[0] = 0x1122_3344_5566_7788; g[1] = 0; },
            o => Assert.Equal(0x1122_3344_5566_7788UL, o.Gprs[0])),
        ["bsr r16, nonzero"] = (a => a.bsr(ax, cx), g => { g[0] = 0xFFFF_FFFF_FFFF_FFFF; g[1] = 0x0100; },
            o => Assert.Equal(0xFFFF_FFFF_FFFF_0008UL, o.Gprs[0])),
        // CMPXCHG r32 mismatch: EAX takes the destination (RAX's upper half cleared).
        ["cmpxchg r32, mismatch"] = (a => a.cmpxchg(ecx, edx), g => { g[0] = 0xAAAA_AAAA_0000_0001; g[1] = 0xBBBB_BBBB_0000_0002; g[2] = 0xCCCC_CCCC_0000_0003; },
            o => Assert.Equal(2UL, o.Gprs[0])),
        ["cmpxchg r32, match"] = (a => a.cmpxchg(ecx, edx), g => { g[0] = 0xAAAA_AAAA_0000_0002; g[1] = 0xBBBB_BBBB_0000_0002; g[2] = 0xCCCC_CCCC_0000_0003; },
            o => { Assert.Equal(3UL, o.Gprs[1]); Assert.Equal(0xAAAA_AAAA_0000_0002UL, o.Gprs[0]); }),
        ["cmpxchg8b, mismatch"] = (a => a.cmpxchg8b(__qword_ptr[rdi]), g => { g[0] = 0xFFFF_FFFF_0000_0000; g[2] = 0xFFFF_FFFF_0000_0000; g[7] = Window + 64; },
            o => { Assert.Equal(0x4746_4544UL, o.Gprs[2]); Assert.Equal(0x4342_4140UL, o.Gprs[0]); }),
        ["cmpxchg16b, misaligned"] = (a => a.cmpxchg16b(__xmmword_ptr[rdi]), g => g[7] = Window + 72,
            o => Assert.Equal(FaultKind.GeneralProtection, o.Fault.Kind)),
        ["cmpxchg16b, match"] = (a => a.cmpxchg16b(__xmmword_ptr[rdi]), g => { g[0] = 0x0706_0504_0302_0100; g[2] = 0x0F0E_0D0C_0B0A_0908; g[3] = 5; g[1] = 6; g[7] = Window; },
            o => Assert.NotEqual(0UL, o.Rflags & 0x40)),
        // A negative 64-bit register offset selects a qword before the operand: -69 is bit 59 of the qword at -16.
        ["bts m64, negative offset"] = (a => a.bts(__qword_ptr[rdi], rcx), g => { g[1] = unchecked((ulong)-69L); g[7] = Window + 256; },
            o => { Assert.Equal(0xFF, o.Memory[256 - 16 + 7]); Assert.Equal(0UL, o.Rflags & 1); }),
        ["div, zero divisor"] = (a => a.div(rbx), g => { g[0] = 1; g[3] = 0; }, o => Assert.Equal(FaultKind.DivideError, o.Fault.Kind)),
        ["idiv r8, quotient 128"] = (a => a.idiv(bl), g => { g[0] = unchecked((ulong)-256L) & 0xFFFF; g[3] = 0xFE; },
            o => Assert.Equal(FaultKind.DivideError, o.Fault.Kind)),
        ["idiv r8, quotient -128"] = (a => a.idiv(bl), g => { g[0] = 256; g[3] = 0xFE; }, o => Assert.Equal(0x80UL, o.Gprs[0] & 0xFFFF)),
        // SHLD with a count of 0 changes nothing but still writes a 32-bit register (upper half cleared) on AMD.
        ["shld r32, count 0"] = (a => a.shld(eax, ebx, 0), g => { g[0] = 0x1234_5678_9ABC_DEF0; g[3] = 1; },
            o => Assert.Equal(0x9ABC_DEF0UL, o.Gprs[0])),
        ["lahf"] = (a => a.lahf(), g => g[0] = 0, o => Assert.Equal(0x02UL, (o.Gprs[0] >> 8) & 0x02)),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void EmulatorMatchesTheHostOnChosenInputs(string name)
    {
        var (emit, set, expect) = Directed[name];
        var assembler = new Assembler(64);
        emit(assembler);
        var stream = new MemoryStream();
        assembler.Assemble(new StreamCodeWriter(stream), Window);
        var c = InstructionCase.Create(stream.ToArray());
        var memory = new byte[InstructionCase.WindowSize];
        for (int k = 0; k < memory.Length; k++) memory[k] = (byte)k;
        c = c with { Memory = memory, PointerRegisters = (ushort)(c.PointerRegisters | (1 << 7)), Rflags = 0x2 };
        c.Gprs[7] = Window; // RDI is the window pointer unless the case moves it
        set(c.Gprs);

        using var native = new IsolatedNativeRunner();
        using var emulated = new EmulatedCaseRunner();
        var expected = native.Run(c);
        var actual = emulated.Run(c);
        expect(expected);
        var decoder = Decoder.Create(64, c.Code);
        decoder.Decode(out var instruction);
        ulong undefined = (instruction.RflagsUndefined & RflagsBits.OF) != 0 ? 0x800UL : 0;
        if ((instruction.RflagsUndefined & RflagsBits.SF) != 0) undefined |= 0x80;
        if ((instruction.RflagsUndefined & RflagsBits.ZF) != 0) undefined |= 0x40;
        if ((instruction.RflagsUndefined & RflagsBits.AF) != 0) undefined |= 0x10;
        if ((instruction.RflagsUndefined & RflagsBits.PF) != 0) undefined |= 0x4;
        if ((instruction.RflagsUndefined & RflagsBits.CF) != 0) undefined |= 0x1;
        Assert.Equal("", expected.DescribeDifferences(actual, InstructionOutcome.OutputFlagsMask & ~undefined));
    }
}
