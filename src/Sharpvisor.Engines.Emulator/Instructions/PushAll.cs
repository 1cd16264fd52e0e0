using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Engines.Emulator.Instructions.SystemMode;
using Reg = Iced.Intel.Register;

namespace Sharpvisor.Engines.Emulator.Instructions;

/// <summary>
/// PUSHA/PUSHAD and POPA/POPAD, in 16- and 32-bit code (64-bit mode has no such instructions: the decoder reports
/// them invalid). PUSHA stores AX CX DX BX, SP as it was before, BP SI DI; POPA loads them back in reverse and skips the
/// stored SP. All memory is accessed before any register changes, so a fault leaves the registers as they were.
/// </summary>
public static class PushAll
{
    private static readonly Reg[] Words = [Reg.AX, Reg.CX, Reg.DX, Reg.BX, Reg.SP, Reg.BP, Reg.SI, Reg.DI];
    private static readonly Reg[] Doublewords = [Reg.EAX, Reg.ECX, Reg.EDX, Reg.EBX, Reg.ESP, Reg.EBP, Reg.ESI, Reg.EDI];

    public static unsafe void Register(InstructionTable table)
    {
        table.Set(Code.Pushaw, &Pusha);
        table.Set(Code.Pushad, &Pusha);
        table.Set(Code.Popaw, &Popa);
        table.Set(Code.Popad, &Popa);
    }

    private static void Pusha(CpuCore cpu, ref Instruction i)
    {
        int width = i.Code == Code.Pushaw ? 2 : 4;
        var registers = width == 2 ? Words : Doublewords;
        for (int k = 0; k < registers.Length; k++)
            SystemStack.Write(cpu, -(long)width * (k + 1), width, Operands.ReadRegister(cpu, registers[k]));
        SystemStack.Adjust(cpu, -8L * width);
    }

    private static void Popa(CpuCore cpu, ref Instruction i)
    {
        int width = i.Code == Code.Popaw ? 2 : 4;
        var registers = width == 2 ? Words : Doublewords;
        Span<ulong> values = stackalloc ulong[8];
        for (int k = 0; k < registers.Length; k++) values[k] = SystemStack.Read(cpu, (long)width * (registers.Length - 1 - k), width);
        for (int k = 0; k < registers.Length; k++)
            if (registers[k] is not (Reg.SP or Reg.ESP)) Operands.WriteRegister(cpu, registers[k], values[k]);
        SystemStack.Adjust(cpu, 8L * width);
    }
}
