using System.Runtime.CompilerServices;
using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Engines.Emulator.Memory;

namespace Sharpvisor.Engines.Emulator.Instructions.X87;

/// <summary>
/// The register stack and the bookkeeping every x87 instruction shares: ST(i) addressing through TOP, tags, stack
/// overflow/underflow, device-not-available and pending-exception checks, committing exceptions to the status word,
/// and the last-instruction pointers (FIP, FDP, FOP).
/// <para>Unmasked exceptions: the instruction sets its flag, ES and B in FSW and (for invalid, denormal and
/// zero-divide) leaves its destination, the stack and memory unchanged; the next waiting x87 instruction (and
/// WAIT, and MMX's EMMS) then raises #MF. The legacy external FERR#/IGNNE# reporting of CR0.NE = 0 is not
/// modelled: #MF is raised whatever CR0.NE says (a 64-bit kernel always sets NE).</para>
/// </summary>
public static class X87Core
{
    public const ulong Cr0MonitorCoprocessor = 1 << 1, Cr0Emulation = 1 << 2, Cr0TaskSwitched = 1 << 3;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Top(CpuCore cpu) => (cpu.FpuStatusWord >> FpuStatus.TopShift) & 7;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SetTop(CpuCore cpu, int top) =>
        cpu.FpuStatusWord = (ushort)((cpu.FpuStatusWord & ~FpuStatus.TopMask) | ((top & 7) << FpuStatus.TopShift));

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static int Physical(CpuCore cpu, int stackIndex) => (Top(cpu) + stackIndex) & 7;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static bool IsEmpty(CpuCore cpu, int stackIndex) => (cpu.FpuTagValid & (1 << Physical(cpu, stackIndex))) == 0;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ref Float80 St(CpuCore cpu, int stackIndex) => ref cpu.FpuRegisters[Physical(cpu, stackIndex)];

    /// <summary>Writes ST(i) and tags it valid.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void SetSt(CpuCore cpu, int stackIndex, Float80 value)
    {
        int physical = Physical(cpu, stackIndex);
        cpu.FpuRegisters[physical] = value;
        cpu.FpuTagValid |= (byte)(1 << physical);
    }

    /// <summary>Decrements TOP and writes the new ST(0).</summary>
    public static void Push(CpuCore cpu, Float80 value)
    {
        SetTop(cpu, Top(cpu) - 1);
        SetSt(cpu, 0, value);
    }

    /// <summary>Tags ST(0) empty and increments TOP.</summary>
    public static void Pop(CpuCore cpu)
    {
        cpu.FpuTagValid &= (byte)~(1 << Top(cpu));
        SetTop(cpu, Top(cpu) + 1);
    }

    public static int StackIndex(Register register) => register - Register.ST0;

    /// <summary>
    /// Entry check of a waiting x87 instruction: #NM when CR0.EM or CR0.TS is set, then #MF when an unmasked
    /// exception is pending (FSW.ES).
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BeginWaiting(CpuCore cpu)
    {
        if ((cpu.Cr0 & (Cr0Emulation | Cr0TaskSwitched)) != 0) throw new GuestFault(GuestFault.DeviceNotAvailable);
        if ((cpu.FpuStatusWord & FpuStatus.ErrorSummary) != 0) throw new GuestFault(GuestFault.FloatingPoint);
    }

    /// <summary>Entry check of a non-waiting control instruction (FNINIT, FNSTSW...): #NM only.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void BeginControl(CpuCore cpu)
    {
        if ((cpu.Cr0 & (Cr0Emulation | Cr0TaskSwitched)) != 0) throw new GuestFault(GuestFault.DeviceNotAvailable);
    }

    public static RoundingContext Context(CpuCore cpu) => new(cpu.FpuControlWord);

    /// <summary>Raises the stack-underflow invalid exception (IE + SF, C1 = 0).</summary>
    public static void StackUnderflow(ref RoundingContext context)
    {
        context.Exceptions |= FpuStatus.Invalid | FpuStatus.StackFault;
        context.C1 = false;
    }

    /// <summary>Raises the stack-overflow invalid exception (IE + SF, C1 = 1).</summary>
    public static void StackOverflow(ref RoundingContext context)
    {
        context.Exceptions |= FpuStatus.Invalid | FpuStatus.StackFault;
        context.C1 = true;
    }

    /// <summary>
    /// Writes the operation's exceptions into FSW: the sticky flags, SF, C1, and ES/B when one of them is unmasked.
    /// Returns whether the instruction may deliver its result (no unmasked invalid, denormal or zero-divide).
    /// </summary>
    public static bool Commit(CpuCore cpu, ref RoundingContext context)
    {
        int exceptions = context.Exceptions;
        int status = cpu.FpuStatusWord & ~FpuStatus.C1;
        status |= exceptions & (FpuStatus.ExceptionMask | FpuStatus.StackFault);
        if (context.C1) status |= FpuStatus.C1;
        if ((exceptions & ~context.Masks & FpuStatus.ExceptionMask) != 0) status |= FpuStatus.ErrorSummary | FpuStatus.Busy;
        cpu.FpuStatusWord = (ushort)status;
        return !context.Suppressed;
    }

    /// <summary>Sets ES and B exactly when a flagged exception is unmasked (after the masks or the flags were loaded).</summary>
    public static void UpdateErrorSummary(CpuCore cpu)
    {
        int status = cpu.FpuStatusWord & ~(FpuStatus.ErrorSummary | FpuStatus.Busy);
        if ((status & ~cpu.FpuControlWord & FpuStatus.ExceptionMask) != 0) status |= FpuStatus.ErrorSummary | FpuStatus.Busy;
        cpu.FpuStatusWord = (ushort)status;
    }

    /// <summary>Sets the condition codes C0, C2, C3 (and C1) from a four-bit mask in FSW bit positions.</summary>
    public static void SetConditions(CpuCore cpu, int conditions) =>
        cpu.FpuStatusWord = (ushort)((cpu.FpuStatusWord & ~FpuStatus.ConditionMask) | (conditions & FpuStatus.ConditionMask));

    /// <summary>
    /// Records FIP, FOP and (for memory forms) FDP for a non-control instruction. FOP is the low three bits of the
    /// D8..DF opcode byte and the ModRM byte, read back from the instruction's bytes.
    /// </summary>
    public static void RecordPointers(CpuCore cpu, in Instruction instruction, bool hasMemoryOperand)
    {
        cpu.FpuLastInstructionPointer = instruction.IP;
        if (hasMemoryOperand) cpu.FpuLastDataPointer = Operands.EffectiveAddress(cpu, instruction, withSegmentBase: false);
        Span<byte> bytes = stackalloc byte[16];
        int length = instruction.Length;
        cpu.Memory.ReadBytes(instruction.IP, bytes[..length], AccessKind.Execute);
        for (int k = 0; k + 1 < length; k++)
        {
            byte b = bytes[k];
            if (b is >= 0xD8 and <= 0xDF)
            {
                cpu.FpuLastOpcode = (ushort)(((b & 7) << 8) | bytes[k + 1]);
                return;
            }
        }
    }

    /// <summary>The full tag word FNSTENV/FNSAVE store: per physical register 00 valid, 01 zero, 10 special, 11 empty.</summary>
    public static ushort FullTagWord(CpuCore cpu)
    {
        int tags = 0;
        for (int physical = 0; physical < 8; physical++)
        {
            int tag;
            if ((cpu.FpuTagValid & (1 << physical)) == 0) tag = 3;
            else tag = cpu.FpuRegisters[physical].Classify() switch
            {
                X87Class.Zero => 1,
                X87Class.Normal => 0,
                _ => 2,
            };
            tags |= tag << (2 * physical);
        }
        return (ushort)tags;
    }

    /// <summary>The abridged tag byte of a full tag word: a register is valid unless its tag is 11.</summary>
    public static byte AbridgedTags(ushort fullTagWord)
    {
        int valid = 0;
        for (int physical = 0; physical < 8; physical++)
            if (((fullTagWord >> (2 * physical)) & 3) != 3) valid |= 1 << physical;
        return (byte)valid;
    }

    /// <summary>FNINIT's state: FCW 0x37F, FSW 0, every register empty, pointers cleared.</summary>
    public static void Initialize(CpuCore cpu)
    {
        cpu.FpuControlWord = 0x37F;
        cpu.FpuStatusWord = 0;
        cpu.FpuTagValid = 0;
        cpu.FpuLastOpcode = 0;
        cpu.FpuLastInstructionPointer = 0;
        cpu.FpuLastDataPointer = 0;
    }
}
