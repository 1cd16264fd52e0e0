using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Machine.Cpu;

namespace Sharpvisor.Engines.Emulator.Instructions.X87;

/// <summary>
/// The x87 fields of the engine-neutral <see cref="FpuState"/> (FXSAVE layout: FCW, FSW, abridged FTW, FOP, FIP,
/// FDP, ST0..ST7) to and from a <see cref="CpuCore"/>. MXCSR and the XMM registers are mapped elsewhere.
/// Used at the engine boundary only (it allocates).
/// </summary>
public static class X87StateMapper
{
    /// <summary>Loads the core's x87 state from <paramref name="state"/>. ST(i) in X87Registers is relative to the TOP in StatusWord.</summary>
    public static void ToCore(FpuState state, CpuCore cpu)
    {
        cpu.FpuControlWord = X87Control.SanitizeControlWord(state.ControlWord);
        cpu.FpuStatusWord = state.StatusWord;
        cpu.FpuTagValid = state.AbridgedTagWord;
        cpu.FpuLastOpcode = (ushort)(state.LastOpcode & 0x7FF);
        cpu.FpuLastInstructionPointer = state.LastInstructionPointer;
        cpu.FpuLastDataPointer = state.LastDataPointer;
        byte[]? registers = state.X87Registers;
        for (int k = 0; k < 8; k++)
            X87Core.St(cpu, k) = registers is { Length: >= 128 } ? Float80.Read(registers.AsSpan(16 * k, 10)) : default;
        X87Core.UpdateErrorSummary(cpu);
    }

    /// <summary><paramref name="state"/> with its x87 fields replaced by the core's (MXCSR, XMM and XSAVE fields kept).</summary>
    public static FpuState FromCore(CpuCore cpu, FpuState state)
    {
        var registers = new byte[128];
        for (int k = 0; k < 8; k++) X87Core.St(cpu, k).Write(registers.AsSpan(16 * k, 10));
        return state with
        {
            ControlWord = cpu.FpuControlWord,
            StatusWord = cpu.FpuStatusWord,
            AbridgedTagWord = cpu.FpuTagValid,
            LastOpcode = cpu.FpuLastOpcode,
            LastInstructionPointer = cpu.FpuLastInstructionPointer,
            LastDataPointer = cpu.FpuLastDataPointer,
            X87Registers = registers,
        };
    }
}
