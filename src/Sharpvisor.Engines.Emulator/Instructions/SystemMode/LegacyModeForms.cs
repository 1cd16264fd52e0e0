using Iced.Intel;

namespace Sharpvisor.Engines.Emulator.Instructions.SystemMode;

/// <summary>
/// The forms that exist only outside 64-bit mode but do what a 64-bit-mode form of the same mnemonic does with its
/// operands: INC/DEC r16/r32 (40h-4Fh), PUSH/POP r16/r32 (50h-5Fh), PUSH imm16/imm32, PUSH/POP r/m32. Their generic
/// handlers read widths from the decoded operands and go through the stack of the current mode, so these forms get
/// the handler of the mnemonic's r/m form. Registered after every group, so the handlers exist.
/// </summary>
public static class LegacyModeForms
{
    public static unsafe void Register(InstructionTable table)
    {
        foreach (var code in Enum.GetValues<Code>())
        {
            var op = code.ToOpCode();
            if (op.Encoding != EncodingKind.Legacy || op.Mode64 || table.IsImplemented(code)) continue;
            var donor = code.Mnemonic() switch
            {
                Mnemonic.Inc => Code.Inc_rm32,
                Mnemonic.Dec => Code.Dec_rm32,
                Mnemonic.Push when IsGeneral(op) => Code.Push_rm64,
                Mnemonic.Pop when IsGeneral(op) => Code.Pop_rm64,
                _ => Code.INVALID,
            };
            if (donor != Code.INVALID && table.IsImplemented(donor)) table.Set(code, table[donor]);
        }
    }

    // PUSH/POP of segment registers and PUSHA/POPA have their own handlers (or none).
    private static bool IsGeneral(OpCodeInfo op)
    {
        for (int k = 0; k < op.OpCount; k++)
        {
            string kind = op.GetOpKind(k).ToString();
            if (!(kind.StartsWith("r16") || kind.StartsWith("r32") || kind.StartsWith("imm") || kind.StartsWith("r32_or_mem")
                  || kind.StartsWith("r16_or_mem"))) return false;
        }
        return op.OpCount == 1;
    }
}
