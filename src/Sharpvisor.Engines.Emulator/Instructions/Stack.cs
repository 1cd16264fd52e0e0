using System.Runtime.CompilerServices;
using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Engines.Emulator.Instructions.SystemMode;

namespace Sharpvisor.Engines.Emulator.Instructions;

/// <summary>
/// Pushes and pops on the guest stack, shared by PUSH/POP and CALL/RET. In 64-bit mode RSP is the address; outside it
/// the stack is SS.base + ESP or SP (SS.B), as <see cref="SystemStack"/> does it.
/// </summary>
public static class Stack
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void Push(CpuCore cpu, ulong value, int width = 8)
    {
        if (cpu.Bitness != 64)
        {
            SystemStack.Push(cpu, value, width);
            return;
        }
        ulong rsp = cpu.Gpr[CpuCore.Rsp] - (ulong)width;
        cpu.Memory.Write(rsp, width, value);   // written before RSP moves, so a fault leaves RSP as it was
        cpu.Gpr[CpuCore.Rsp] = rsp;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Pop(CpuCore cpu, int width = 8)
    {
        if (cpu.Bitness != 64) return SystemStack.Pop(cpu, width);
        ulong rsp = cpu.Gpr[CpuCore.Rsp];
        ulong value = cpu.Memory.Read(rsp, width);
        cpu.Gpr[CpuCore.Rsp] = rsp + (ulong)width;
        return value;
    }
}
