using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Engines.Emulator.Memory;

namespace Sharpvisor.Engines.Emulator.Instructions;

/// <summary>
/// ENTER and LEAVE in 64-bit mode (64-bit stack): the 64-bit default form and the 66h 16-bit form. Memory is
/// written before RSP/RBP change, so a fault leaves both registers as they were and the instruction can restart.
/// </summary>
public static class StackFrames
{
    public static unsafe void Register(InstructionTable table)
    {
        table.SetAllGeneralForms(Mnemonic.Enter, &Enter);
        table.SetAllGeneralForms(Mnemonic.Leave, &Leave);
    }

    private static int OperandWidth(in Instruction i) => i.Code is Code.Enterw_imm16_imm8 or Code.Leavew ? 2 : 8;

    private static void Enter(CpuCore cpu, ref Instruction i)
    {
        int width = OperandWidth(i);
        ulong allocation = i.Immediate16;
        int level = i.Immediate8_2nd & 31;
        ulong rsp = cpu.Gpr[CpuCore.Rsp], rbp = cpu.Gpr[CpuCore.Rbp];

        rsp -= (ulong)width;
        cpu.Memory.Write(rsp, width, rbp);
        ulong frame = rsp;
        if (level > 0)
        {
            // Copy the enclosing frames' pointers (display), then push this frame's.
            for (int n = 1; n < level; n++)
            {
                rbp -= (ulong)width;
                ulong outer = cpu.Memory.Read(rbp, width);
                rsp -= (ulong)width;
                cpu.Memory.Write(rsp, width, outer);
            }
            rsp -= (ulong)width;
            cpu.Memory.Write(rsp, width, frame);
        }
        // Hardware checks the new stack top for a write (a #PF there names RSP - allocation), though it stores nothing.
        ulong top = rsp - allocation;
        if (allocation != 0) cpu.Memory.Translator.Translate(top, AccessKind.Write);
        cpu.Gpr[CpuCore.Rbp] = width == 8 ? frame : (rbp & ~0xFFFFUL) | (frame & 0xFFFF);
        cpu.Gpr[CpuCore.Rsp] = top;
    }

    private static void Leave(CpuCore cpu, ref Instruction i)
    {
        int width = OperandWidth(i);
        ulong rbp = cpu.Gpr[CpuCore.Rbp];
        ulong saved = cpu.Memory.Read(rbp, width);
        cpu.Gpr[CpuCore.Rsp] = rbp + (ulong)width;
        cpu.Gpr[CpuCore.Rbp] = width == 8 ? saved : (rbp & ~0xFFFFUL) | saved;
    }
}
