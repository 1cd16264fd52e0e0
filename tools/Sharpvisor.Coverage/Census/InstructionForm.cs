using Iced.Intel;

namespace Sharpvisor.Coverage.Census;

/// <summary>One distinct instruction form found by a census and how often it occurs in the code scanned.</summary>
/// <param name="Code">Iced's form: mnemonic plus operand kinds and encoding, e.g. Add_rm64_imm8.</param>
/// <param name="Count">Occurrences in the scanned bytes (static count, not executions).</param>
public sealed record InstructionForm(Code Code, long Count)
{
    public Mnemonic Mnemonic => Code.Mnemonic();

    /// <summary>The CPUID features the form needs, all of them (Iced's <see cref="InstructionInfoExtensions.CpuidFeatures(Code)"/>).</summary>
    public IReadOnlyList<CpuidFeature> Features => Code.CpuidFeatures();

    public FormCategory Category => FormClassifier.Classify(Code);

    public bool IsPrivileged => Code.IsPrivileged();
}
