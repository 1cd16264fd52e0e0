using Iced.Intel;
using Sharpvisor.Engines.Emulator.Decoding;

namespace Sharpvisor.Engines.Emulator.Execution;

/// <summary>
/// The execution loop: find the decoded block at RIP, call each instruction's handler through its function pointer,
/// count retired instructions. Nothing is allocated per instruction.
/// </summary>
public sealed unsafe class Interpreter(CpuCore cpu, BlockCache blocks)
{
    public CpuCore Cpu { get; } = cpu;
    public BlockCache Blocks { get; } = blocks;

    /// <summary>The exception that stopped the last run, if it stopped on one.</summary>
    public GuestFault? LastFault { get; private set; }

    /// <summary>Runs at most <paramref name="budget"/> instructions. An unimplemented instruction throws <see cref="UnimplementedInstructionException"/>.</summary>
    public StopReason Run(long budget)
    {
        var cpu = Cpu;
        LastFault = null;
        while (budget > 0)
        {
            DecodedBlock block;
            try
            {
                block = Blocks.Get(cpu);
            }
            catch (GuestFault fault)
            {
                LastFault = fault; // the fetch itself faulted; RIP already names the instruction
                return StopReason.Fault;
            }
            var instructions = block.Instructions;
            var handlers = block.Handlers;
            int count = (int)Math.Min(block.Count, budget);
            int k = 0;
            try
            {
                for (; k < count; k++)
                {
                    ref Instruction instruction = ref instructions[k];
                    cpu.Rip = instruction.NextIP;
                    ((delegate*<CpuCore, ref Instruction, void>)handlers[k])(cpu, ref instruction);
                    if (!block.Valid) { k++; break; } // a store rewrote this block's code: decode afresh
                }
            }
            catch (GuestFault fault)
            {
                // Faults report the faulting instruction; traps (INT3, INTO) the one after, and the trapping one retired.
                if (fault.IsTrap) { cpu.Rip = instructions[k].NextIP; k++; }
                else cpu.Rip = instructions[k].IP;
                cpu.InstructionsRetired += k;
                LastFault = fault;
                return StopReason.Fault;
            }
            catch (UnimplementedInstructionException)
            {
                cpu.Rip = instructions[k].IP;
                cpu.InstructionsRetired += k;
                throw;
            }
            cpu.InstructionsRetired += k;
            budget -= k;
        }
        return StopReason.BudgetExhausted;
    }
}
