using Sharpvisor.Engines.Emulator.Execution;

namespace Sharpvisor.Engines.Emulator.Instructions;

/// <summary>Pushes and pops on the guest stack (RSP), shared by PUSH/POP, CALL/RET and, later, interrupts.</summary>
public static class Stack
{
    public static void Push(CpuCore cpu, ulong value, int width = 8)
    {
        ulong rsp = cpu.Gpr[CpuCore.Rsp] - (ulong)width;
        cpu.Memory.Write(rsp, width, value);   // written before RSP moves, so a fault leaves RSP as it was
        cpu.Gpr[CpuCore.Rsp] = rsp;
    }

    public static ulong Pop(CpuCore cpu, int width = 8)
    {
        ulong rsp = cpu.Gpr[CpuCore.Rsp];
        ulong value = cpu.Memory.Read(rsp, width);
        cpu.Gpr[CpuCore.Rsp] = rsp + (ulong)width;
        return value;
    }
}
