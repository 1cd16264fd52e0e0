using Iced.Intel;
using Sharpvisor.Engines.Emulator.Instructions;
using Sharpvisor.Oracle;

namespace Sharpvisor.Coverage.Census;

/// <summary>
/// The emulator engine's answer: implemented = it has a handler for the form; verified = implemented and inside the
/// differential oracle's scope, which the emulator's test suite runs against the host CPU (1,000 cases a form in CI).
/// </summary>
public sealed class EmulatorEngineForms : IImplementedForms
{
    public static readonly EmulatorEngineForms Instance = new();

    public bool HasEngine => true;

    public string Description => "the emulator engine's interpreter (verified = in the differential oracle's scope)";

    public bool IsImplemented(Code code) => InstructionTable.Default.IsImplemented(code);

    public bool IsVerified(Code code) => IsImplemented(code) && OracleScope.IsVerifiable(code);
}
