using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Iced.Intel;
using Sharpvisor.Engines.Emulator.Decoding;

namespace Sharpvisor.Engines.Emulator.Execution;

/// <summary>
/// The execution loop: find the decoded block at RIP, call each instruction's handler through its function pointer,
/// count retired instructions. Nothing is allocated per instruction. Between blocks it delivers external interrupts
/// (when <see cref="CpuCore.InterruptCheckRequested"/>, RFLAGS.IF and no interrupt shadow) and, in system mode
/// (<see cref="CpuCore.DeliverExceptions"/>), guest exceptions through the IDT with the #DF and triple-fault rules.
/// </summary>
public sealed class Interpreter(CpuCore cpu, BlockCache blocks)
{
    public CpuCore Cpu { get; } = cpu;
    public BlockCache Blocks { get; } = blocks;

    /// <summary>The exception that stopped the last run, if it stopped on one.</summary>
    public GuestFault? LastFault { get; private set; }

    /// <summary>What led to the last <see cref="StopReason.TripleFault"/>: the exceptions in order and where the core was.</summary>
    public string? TripleFaultDescription { get; private set; }

    /// <summary>The index in the current block of the instruction being run (read when its handler throws).</summary>
    private int _position;

    /// <summary>Runs at most <paramref name="budget"/> instructions. An unimplemented instruction throws <see cref="UnimplementedInstructionException"/>.</summary>
    public StopReason Run(long budget)
    {
        var cpu = Cpu;
        LastFault = null;
        if (cpu.Halted)
        {
            if (!DeliverExternalInterrupt()) return StopReason.TripleFault;
            if (cpu.Halted) return StopReason.Halted;
        }
        DecodedBlock? previous = null;
        while (budget > 0)
        {
            if (cpu.InterruptCheckRequested && !cpu.InterruptShadow)
            {
                if (!DeliverExternalInterrupt()) return StopReason.TripleFault;
                previous = null; // RIP may be a handler's now: not the last block's usual successor
            }
            DecodedBlock block;
            try
            {
                block = previous is null ? Blocks.Get(cpu) : Blocks.Next(cpu, previous);
            }
            catch (GuestFault fault)
            {
                // The fetch itself faulted; RIP already names the instruction.
                previous = null;
                if (!cpu.DeliverExceptions)
                {
                    LastFault = fault;
                    return StopReason.Fault;
                }
                if (!RaiseException(fault)) return StopReason.TripleFault;
                continue;
            }
            var instructions = block.Instructions;
            int count = (int)Math.Min(block.Count, budget);
            if (cpu.InterruptShadow)
            {
                // STI or MOV SS before this instruction: it runs alone, then interrupts are looked at again.
                count = 1;
                cpu.InterruptShadow = false;
                cpu.InterruptCheckRequested = true;
            }
            int k;
            try
            {
                k = RunInstructions(cpu, block, count);
            }
            catch (GuestFault fault)
            {
                // Faults report the faulting instruction; traps (INT3, INTO) the one after, and the trapping one retired.
                k = _position;
                previous = null;
                if (fault.IsTrap) { cpu.Rip = instructions[k].NextIP; k++; }
                else cpu.Rip = instructions[k].IP;
                cpu.InstructionsRetired += k;
                budget -= k;
                cpu.BlockExitRequested = false;
                if (!cpu.DeliverExceptions)
                {
                    LastFault = fault;
                    return StopReason.Fault;
                }
                if (!RaiseException(fault)) return StopReason.TripleFault;
                continue;
            }
            catch (UnimplementedInstructionException)
            {
                k = _position;
                cpu.Rip = instructions[k].IP;
                cpu.InstructionsRetired += k;
                throw;
            }
            cpu.InstructionsRetired += k;
            budget -= k;
            previous = block;
            if (cpu.BlockExitRequested)
            {
                cpu.BlockExitRequested = false;
                if (cpu.Halted) return StopReason.Halted;
            }
        }
        return StopReason.BudgetExhausted;
    }

    /// <summary>
    /// Runs the block's first <paramref name="count"/> instructions (count &lt;= <see cref="DecodedBlock.Count"/>), or up
    /// to the one after which the block became invalid or a handler asked the loop to look; returns how many retired.
    /// Kept apart from <see cref="Run"/>'s try/catch so the JIT keeps the loop's state in registers; the catch blocks
    /// learn which instruction threw from <see cref="_position"/>.
    /// </summary>
    [MethodImpl(MethodImplOptions.NoInlining)]
    private unsafe int RunInstructions(CpuCore cpu, DecodedBlock block, int count)
    {
        // DecodedBlock guarantees Count <= both arrays' lengths, so these reads need no bounds checks.
        ref Instruction instructions = ref MemoryMarshal.GetArrayDataReference(block.Instructions);
        ref nint handlers = ref MemoryMarshal.GetArrayDataReference(block.Handlers);
        for (int k = 0; k < count;)
        {
            _position = k;
            ref Instruction instruction = ref Unsafe.Add(ref instructions, k);
            cpu.Rip = instruction.NextIP;
            ((delegate*<CpuCore, ref Instruction, void>)Unsafe.Add(ref handlers, k))(cpu, ref instruction);
            k++;
            // A store rewrote this block's code (decode afresh), or a handler changed what the loop must look at.
            if (!block.Valid | cpu.BlockExitRequested) return k;
        }
        return count;
    }

    /// <summary>
    /// Takes a deliverable interrupt from <see cref="CpuCore.Interrupts"/> when RFLAGS.IF allows, and delivers it.
    /// The request flag is cleared first, so an interrupt raised while we look sets it again. False on a triple fault.
    /// </summary>
    private bool DeliverExternalInterrupt()
    {
        var cpu = Cpu;
        cpu.InterruptCheckRequested = false;
        var source = cpu.Interrupts;
        if (source is null || !cpu.InterruptsEnabled || !source.HasDeliverable || !source.TryAcknowledge(out byte vector)) return true;
        try
        {
            EventDelivery.Deliver(cpu, vector, null, EventSource.External);
        }
        catch (GuestFault fault)
        {
            // An external interrupt is a benign first event: the fault in its delivery is handled as itself.
            if (!RaiseException(fault)) return false;
        }
        cpu.BlockExitRequested = false;
        cpu.InterruptCheckRequested = true; // a trap gate leaves IF set: another pending interrupt may follow at once
        return true;
    }

    /// <summary>
    /// Delivers an exception through the IDT. A fault during delivery becomes #DF when both are contributory
    /// (#DE, #TS, #NP, #SS, #GP) or the first is #PF and the second contributory or #PF; any other pair is
    /// delivered one after the other. A fault while delivering #DF shuts the processor down: false.
    /// </summary>
    private bool RaiseException(GuestFault fault)
    {
        var cpu = Cpu;
        byte vector = fault.Vector;
        uint? errorCode = fault.ErrorCode;
        ulong faultAddress = fault.FaultAddress;
        string? history = null;
        if (vector == GuestFault.PageFault) cpu.Cr2 = faultAddress;
        while (true)
        {
            errorCode = HasErrorCode(vector) ? errorCode ?? 0 : null;
            try
            {
                EventDelivery.Deliver(cpu, vector, errorCode, EventSource.Exception);
                cpu.BlockExitRequested = false;
                return true;
            }
            catch (GuestFault next)
            {
                if (next.Vector == GuestFault.PageFault) cpu.Cr2 = next.FaultAddress; // CR2 is loaded as the #PF is raised, even if it becomes #DF
                history = $"{history}{Describe(vector, errorCode, faultAddress)}, then while delivering it ";
                if (vector == GuestFault.DoubleFault)
                {
                    TripleFaultDescription = $"triple fault: {history}{Describe(next.Vector, next.ErrorCode, next.FaultAddress)}; " +
                        $"RIP 0x{cpu.Rip:x}, CS 0x{cpu.Segments[CpuCore.Cs].Selector:x}, CPL {cpu.Cpl}, RSP 0x{cpu.Gpr[CpuCore.Rsp]:x}, " +
                        $"IDT 0x{cpu.IdtBase:x}/0x{cpu.IdtLimit:x}, TR base 0x{cpu.Tr.Base:x}";
                    return false;
                }
                bool contributoryFirst = IsContributory(vector), contributorySecond = IsContributory(next.Vector);
                if ((contributoryFirst && contributorySecond) || (vector == GuestFault.PageFault && (contributorySecond || next.Vector == GuestFault.PageFault)))
                {
                    history += $"{Describe(next.Vector, next.ErrorCode, next.FaultAddress)} made a double fault: ";
                    vector = GuestFault.DoubleFault;
                    errorCode = 0;
                }
                else
                {
                    vector = next.Vector;
                    errorCode = next.ErrorCode;
                    faultAddress = next.FaultAddress;
                }
            }
        }
    }

    private static string Describe(byte vector, uint? errorCode, ulong address) =>
        GuestFault.Name(vector) + (errorCode is { } e ? $"(0x{e:x})" : "") + (vector == GuestFault.PageFault ? $" at 0x{address:x}" : "");

    private static bool IsContributory(byte vector) => vector is GuestFault.DivideError or GuestFault.InvalidTss
        or GuestFault.SegmentNotPresent or GuestFault.StackFault or GuestFault.GeneralProtection;

    /// <summary>The exceptions that push an error code (#DF, #TS, #NP, #SS, #GP, #PF, #AC; #CP 21 is not raised).</summary>
    public static bool HasErrorCode(byte vector) => vector is GuestFault.DoubleFault or GuestFault.InvalidTss
        or GuestFault.SegmentNotPresent or GuestFault.StackFault or GuestFault.GeneralProtection or GuestFault.PageFault
        or GuestFault.AlignmentCheck;
}
