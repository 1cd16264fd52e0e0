using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;

namespace Sharpvisor.Engines.Emulator.Instructions;

/// <summary>XLAT: AL = [RBX + zero-extended AL] (EBX with 67h), with an optional FS/GS override.</summary>
public static class TableLookup
{
    public static unsafe void Register(InstructionTable table) => table.Set(Code.Xlat_m8, &Xlat);

    private static void Xlat(CpuCore cpu, ref Instruction i)
    {
        ulong address = cpu.Gpr[CpuCore.Rbx] + (cpu.Gpr[CpuCore.Rax] & 0xFF);
        if (i.MemoryBase == Iced.Intel.Register.EBX) address = (uint)address;
        address += i.SegmentPrefix switch
        {
            Iced.Intel.Register.FS => cpu.FsBase,
            Iced.Intel.Register.GS => cpu.GsBase,
            _ => 0,
        };
        Operands.WriteRegister(cpu, Iced.Intel.Register.AL, cpu.Memory.Read(address, 1));
    }
}
