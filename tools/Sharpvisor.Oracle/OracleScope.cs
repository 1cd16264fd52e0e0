using Iced.Intel;
using Sharpvisor.Oracle.Generation;

namespace Sharpvisor.Oracle;

/// <summary>
/// Which instruction forms the differential oracle checks: those the case generator can build, less control
/// transfers, whose native run would leave the harness, and less encodings whose meaning depends on a CPUID feature
/// the emulator does not advertise but the host has (TZCNT/LZCNT, which the emulator runs as BSF/BSR, as a CPU without
/// BMI1/ABM does). The emulator's oracle test and the coverage report share it.
/// </summary>
public static class OracleScope
{
    public static bool IsVerifiable(Code code) =>
        CaseGenerator.IsSupported(code) && new Instruction { Code = code }.FlowControl == FlowControl.Next
        && code.Mnemonic() is not (Mnemonic.Tzcnt or Mnemonic.Lzcnt);
}
