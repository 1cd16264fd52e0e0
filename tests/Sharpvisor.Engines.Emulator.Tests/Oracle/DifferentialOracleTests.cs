using System.Text;
using Iced.Intel;
using Sharpvisor.Engines.Emulator.Instructions;
using Sharpvisor.Oracle;
using Sharpvisor.Oracle.Generation;
using Sharpvisor.Oracle.Isolation;
using Xunit.Abstractions;

namespace Sharpvisor.Engines.Emulator.Tests.Oracle;

/// <summary>
/// Every implemented instruction form the case generator can build, run on the host CPU (in an isolated worker) and
/// on the emulator from the same random registers, flags and memory: every output must match, except the flags the
/// architecture leaves undefined for that instruction. SHARPVISOR_ORACLE_CASES raises the count for a long run.
/// </summary>
public class DifferentialOracleTests(ITestOutputHelper output)
{
    private const int Seed = 20261121;
    private static int CasesPerForm => int.TryParse(Environment.GetEnvironmentVariable("SHARPVISOR_ORACLE_CASES"), out int n) ? n : 1000;

    /// <summary>Implemented forms in the oracle's scope (branches are covered by the interpreter's own tests).</summary>
    public static IReadOnlyList<Code> VerifiableForms() =>
        InstructionTable.Default.ImplementedForms().Where(OracleScope.IsVerifiable).Where(IsSelected).ToList();

    /// <summary>SHARPVISOR_ORACLE_MNEMONICS=Mul,Div,... narrows a development run to those mnemonics (unset: all).</summary>
    private static bool IsSelected(Code code)
    {
        string? selection = Environment.GetEnvironmentVariable("SHARPVISOR_ORACLE_MNEMONICS");
        if (string.IsNullOrWhiteSpace(selection)) return true;
        string mnemonic = code.Mnemonic().ToString();
        return selection.Split(',', StringSplitOptions.TrimEntries).Any(m => string.Equals(m, mnemonic, StringComparison.OrdinalIgnoreCase));
    }

    [Fact]
    public void EveryVerifiableFormMatchesTheHostCpu()
    {
        var forms = VerifiableForms();
        Assert.NotEmpty(forms);
        var generator = new CaseGenerator(Seed);
        using var native = new IsolatedNativeRunner();
        using var emulated = new EmulatedCaseRunner();
        var divergences = new StringBuilder();
        int divergentForms = 0;
        long cases = 0;
        var nativeTime = new System.Diagnostics.Stopwatch();
        var emulatedTime = new System.Diagnostics.Stopwatch();
        foreach (var code in forms)
        {
            var batch = Enumerable.Range(0, CasesPerForm).Select(_ => generator.Generate(code)).ToArray();
            nativeTime.Start();
            var expected = native.RunBatch(batch);
            nativeTime.Stop();
            int shown = 0, failed = 0;
            for (int k = 0; k < batch.Length; k++)
            {
                emulatedTime.Start();
                var actual = emulated.Run(batch[k]);
                emulatedTime.Stop();
                string diff = Compare(batch[k], expected[k], actual);
                cases++;
                if (diff.Length == 0) continue;
                failed++;
                if (shown++ < 2)
                    divergences.Append("form ").Append(code).Append(": ").AppendLine(Disassemble(batch[k].Code))
                        .Append("  inputs: ").AppendLine(Describe(batch[k])).AppendLine(Indent(diff));
            }
            if (failed > 0) divergentForms++;
        }
        output.WriteLine($"{forms.Count} forms, {cases} cases, {divergentForms} forms diverged; native {nativeTime.Elapsed.TotalSeconds:0.0} s, emulated {emulatedTime.Elapsed.TotalSeconds:0.0} s");
        Assert.True(divergentForms == 0, $"{divergentForms} of {forms.Count} forms diverged from the host CPU:\n{divergences}");
    }

    /// <summary>Differences that count: registers, memory, the fault, and the flags the instruction defines.</summary>
    private static string Compare(InstructionCase c, InstructionOutcome native, InstructionOutcome emulated)
    {
        if (native.Fault.IsFault || emulated.Fault.IsFault)
            return native.Fault.Kind == emulated.Fault.Kind ? "" : $"fault: {native.Fault} vs {emulated.Fault}";
        IgnoreHostSpecificMemory(c, native, emulated);
        return native.DescribeDifferences(emulated, DefinedFlags(c));
    }

    /// <summary>
    /// x87 images in memory hold fields that describe the host rather than the architecture: the last-instruction
    /// pointers FIP, FCS/FOP, FDP, FDS (host code addresses; the AMD host also writes zeros in FXSAVE's while no
    /// exception is pending) and FXSAVE's MXCSR_MASK (the AMD host reports its misaligned-SSE bit 17). Those bytes
    /// of the emulator's image are taken from the host's before comparing.
    /// </summary>
    private static void IgnoreHostSpecificMemory(InstructionCase c, InstructionOutcome native, InstructionOutcome emulated)
    {
        var decoder = Iced.Intel.Decoder.Create(64, c.Code);
        decoder.Decode(out var instruction);
        (int, int)[] ranges = instruction.Code switch
        {
            Code.Fxsave_m512byte or Code.Fxsave64_m512byte => [(6, 18), (28, 4)],
            Code.Fnstenv_m28byte or Code.Fstenv_m28byte or Code.Fnsave_m108byte or Code.Fsave_m108byte => [(12, 14)],
            Code.Fnstenv_m14byte or Code.Fstenv_m14byte or Code.Fnsave_m94byte or Code.Fsave_m94byte => [(6, 8)],
            _ => [],
        };
        if (ranges.Length == 0) return;
        ulong address = c.Gprs[GprIndex.Of(instruction.MemoryBase)] + instruction.MemoryDisplacement64;
        int offset = (int)(address - InstructionCase.CanonicalWindowBase);
        foreach (var (start, length) in ranges)
            native.Memory.AsSpan(offset + start, length).CopyTo(emulated.Memory.AsSpan(offset + start, length));
    }

    private static ulong DefinedFlags(InstructionCase c)
    {
        var decoder = Iced.Intel.Decoder.Create(64, c.Code);
        decoder.Decode(out var instruction);
        ulong undefined = ToRflags(instruction.RflagsUndefined);
        if (instruction.Mnemonic is Mnemonic.Shl or Mnemonic.Sal or Mnemonic.Shr or Mnemonic.Sar or Mnemonic.Rol or Mnemonic.Ror
            or Mnemonic.Rcl or Mnemonic.Rcr)
        {
            // OF is defined only for a count of 1, and for shifts CF only for counts below the operand width.
            int width = instruction.Op0Kind == OpKind.Register ? instruction.Op0Register.GetSize() : instruction.MemorySize.GetSize();
            ulong count = instruction.Op1Kind == OpKind.Register ? c.Gprs[1] & 0xFF : instruction.Immediate8;
            count &= width == 8 ? 0x3FUL : 0x1FUL;
            if (count != 1) undefined |= 0x800;
            if (instruction.Mnemonic is not (Mnemonic.Rol or Mnemonic.Ror or Mnemonic.Rcl or Mnemonic.Rcr) && count >= (ulong)(width * 8))
                undefined |= 0x1;
        }
        if (instruction.Mnemonic is Mnemonic.Shld or Mnemonic.Shrd)
        {
            // OF is defined only for a count of 1. A count above the operand size (16-bit operands only) leaves the
            // result and flags undefined: we match AMD's result (see BitInstructions) but not its CF, so CF is masked.
            int width = instruction.Op0Kind == OpKind.Register ? instruction.Op0Register.GetSize() : instruction.MemorySize.GetSize();
            ulong count = instruction.Op2Kind == OpKind.Register ? c.Gprs[1] & 0xFF : instruction.Immediate8;
            count &= width == 8 ? 0x3FUL : 0x1FUL;
            if (count != 1) undefined |= 0x800;
            if (count > (ulong)(width * 8)) undefined |= 0x1;
        }
        return InstructionOutcome.OutputFlagsMask & ~undefined;
    }

    private static ulong ToRflags(RflagsBits bits)
    {
        ulong r = 0;
        if ((bits & RflagsBits.OF) != 0) r |= 0x800;
        if ((bits & RflagsBits.SF) != 0) r |= 0x80;
        if ((bits & RflagsBits.ZF) != 0) r |= 0x40;
        if ((bits & RflagsBits.AF) != 0) r |= 0x10;
        if ((bits & RflagsBits.CF) != 0) r |= 0x1;
        if ((bits & RflagsBits.PF) != 0) r |= 0x4;
        return r;
    }

    private static string Disassemble(byte[] code)
    {
        var decoder = Iced.Intel.Decoder.Create(64, code);
        decoder.Decode(out var instruction);
        var text = new StringOutput();
        new NasmFormatter().Format(instruction, text);
        return $"{text.ToStringAndReset()} ({Convert.ToHexString(code).ToLowerInvariant()})";
    }

    private static string Describe(InstructionCase c)
    {
        string text = string.Join(" ", c.Gprs.Select((v, i) => $"r{i}={v:x}")) + $" rflags={c.Rflags:x}";
        var decoder = Iced.Intel.Decoder.Create(64, c.Code);
        decoder.Decode(out var instruction);
        if (!CaseGenerator.IsX87Related(instruction.Code)) return text;
        // The x87 inputs: control and status words, abridged tags, ST0..ST7, and the memory operand's first bytes.
        byte[] x = c.X87State;
        text += $"\n  x87: fcw={BitConverter.ToUInt16(x, 0):x4} fsw={BitConverter.ToUInt16(x, 2):x4} ftw={x[4]:x2} "
            + string.Join(" ", Enumerable.Range(0, 8).Select(k => $"st{k}={BitConverter.ToUInt16(x, 40 + 16 * k):x4}:{BitConverter.ToUInt64(x, 32 + 16 * k):x16}"));
        if (instruction.Op0Kind == OpKind.Memory && instruction.MemoryBase != Register.None)
        {
            ulong offset = c.Gprs[GprIndex.Of(instruction.MemoryBase)] + instruction.MemoryDisplacement64 - InstructionCase.CanonicalWindowBase;
            if (offset < InstructionCase.WindowSize - 16)
                text += $"\n  operand: {Convert.ToHexString(c.Memory, (int)offset, 16).ToLowerInvariant()}";
        }
        return text;
    }

    private static string Indent(string text) => string.Join("\n", text.TrimEnd().Split('\n').Select(l => "  " + l));
}
