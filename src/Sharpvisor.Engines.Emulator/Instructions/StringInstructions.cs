using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;

namespace Sharpvisor.Engines.Emulator.Instructions;

/// <summary>
/// MOVS, STOS, LODS, CMPS, SCAS in every width, with REP/REPE/REPNE, DF, and 64-, 32- (67h) or 16-bit addressing.
/// A repeated instruction runs at most <see cref="MaxIterationsPerExecution"/> iterations per execution; if the count
/// is not exhausted it sets RIP back to itself, so it executes again later. That is how hardware makes REP
/// interruptible, and it keeps one instruction from holding the interpreter for millions of iterations.
/// RSI/RDI/RCX are written after every completed iteration, so a fault mid-string leaves them as far as it got.
/// </summary>
public static class StringInstructions
{
    /// <summary>Iterations of a repeated string instruction per execution (the interpreter counts one retired instruction each time).</summary>
    public const int MaxIterationsPerExecution = 4096;

    public static unsafe void Register(InstructionTable table)
    {
        table.Set(Code.Movsb_m8_m8, &Movs);
        table.Set(Code.Movsw_m16_m16, &Movs);
        table.Set(Code.Movsd_m32_m32, &Movs);
        table.Set(Code.Movsq_m64_m64, &Movs);
        table.Set(Code.Stosb_m8_AL, &Stos);
        table.Set(Code.Stosw_m16_AX, &Stos);
        table.Set(Code.Stosd_m32_EAX, &Stos);
        table.Set(Code.Stosq_m64_RAX, &Stos);
        table.Set(Code.Lodsb_AL_m8, &Lods);
        table.Set(Code.Lodsw_AX_m16, &Lods);
        table.Set(Code.Lodsd_EAX_m32, &Lods);
        table.Set(Code.Lodsq_RAX_m64, &Lods);
        table.Set(Code.Cmpsb_m8_m8, &Cmps);
        table.Set(Code.Cmpsw_m16_m16, &Cmps);
        table.Set(Code.Cmpsd_m32_m32, &Cmps);
        table.Set(Code.Cmpsq_m64_m64, &Cmps);
        table.Set(Code.Scasb_AL_m8, &Scas);
        table.Set(Code.Scasw_AX_m16, &Scas);
        table.Set(Code.Scasd_EAX_m32, &Scas);
        table.Set(Code.Scasq_RAX_m64, &Scas);
    }

    /// <summary>Whether <paramref name="instruction"/> is a string instruction with a repeat prefix (it may re-execute itself, so it ends a block).</summary>
    public static bool IsRepeated(in Instruction instruction) =>
        (instruction.HasRepPrefix || instruction.HasRepnePrefix) && (IsStringOperand(instruction.Op0Kind) || IsStringOperand(instruction.Op1Kind));

    private static bool IsStringOperand(OpKind kind) => kind is OpKind.MemorySegRSI or OpKind.MemorySegESI or OpKind.MemorySegSI
        or OpKind.MemoryESRDI or OpKind.MemoryESEDI or OpKind.MemoryESDI;

    /// <summary>The address-size mask: all ones (64-bit), 0xFFFF_FFFF (67h in 64-bit mode) or 0xFFFF.</summary>
    private static ulong AddressMask(in Instruction i)
    {
        var kind = IsStringOperand(i.Op0Kind) ? i.Op0Kind : i.Op1Kind;
        return kind switch
        {
            OpKind.MemorySegRSI or OpKind.MemoryESRDI => ulong.MaxValue,
            OpKind.MemorySegESI or OpKind.MemoryESEDI => 0xFFFF_FFFF,
            _ => 0xFFFF,
        };
    }

    /// <summary>Writes an index or count register at the address size: 32-bit writes zero the upper half, 16-bit writes merge.</summary>
    private static void WriteSized(CpuCore cpu, int register, ulong mask, ulong value) =>
        cpu.Gpr[register] = mask == 0xFFFF ? (cpu.Gpr[register] & ~0xFFFFUL) | (value & 0xFFFF) : value & mask;

    /// <summary>The FS/GS base when the DS-relative source is overridden; ES (the destination) cannot be.</summary>
    private static ulong SourceBase(CpuCore cpu, in Instruction i) => i.SegmentPrefix switch
    {
        Iced.Intel.Register.FS => cpu.FsBase,
        Iced.Intel.Register.GS => cpu.GsBase,
        _ => 0,
    };

    private static int Width(in Instruction i) => i.MemorySize.GetSize();

    private static long Step(CpuCore cpu, int width) => cpu.Direction ? -width : width;

    /// <summary>
    /// After a chunk of iterations: if iterations remain, point RIP back at the instruction so it runs again.
    /// </summary>
    private static void ResumeLater(CpuCore cpu, in Instruction i) => cpu.Rip = i.IP;

    private static void Movs(CpuCore cpu, ref Instruction i)
    {
        int width = Width(i);
        ulong mask = AddressMask(i), source = SourceBase(cpu, i);
        ulong step = (ulong)Step(cpu, width);
        if (!i.HasRepPrefix && !i.HasRepnePrefix)
        {
            ulong value = cpu.Memory.Read(source + (cpu.Gpr[CpuCore.Rsi] & mask), width);
            cpu.Memory.Write(cpu.Gpr[CpuCore.Rdi] & mask, width, value);
            WriteSized(cpu, CpuCore.Rsi, mask, cpu.Gpr[CpuCore.Rsi] + step);
            WriteSized(cpu, CpuCore.Rdi, mask, cpu.Gpr[CpuCore.Rdi] + step);
            return;
        }
        for (int n = 0; n < MaxIterationsPerExecution; n++)
        {
            ulong count = cpu.Gpr[CpuCore.Rcx] & mask;
            if (count == 0) return;
            ulong value = cpu.Memory.Read(source + (cpu.Gpr[CpuCore.Rsi] & mask), width);
            cpu.Memory.Write(cpu.Gpr[CpuCore.Rdi] & mask, width, value);
            WriteSized(cpu, CpuCore.Rsi, mask, cpu.Gpr[CpuCore.Rsi] + step);
            WriteSized(cpu, CpuCore.Rdi, mask, cpu.Gpr[CpuCore.Rdi] + step);
            WriteSized(cpu, CpuCore.Rcx, mask, count - 1);
        }
        if ((cpu.Gpr[CpuCore.Rcx] & mask) != 0) ResumeLater(cpu, i);
    }

    private static void Stos(CpuCore cpu, ref Instruction i)
    {
        int width = Width(i);
        ulong mask = AddressMask(i);
        ulong step = (ulong)Step(cpu, width);
        ulong value = cpu.Gpr[CpuCore.Rax];
        if (!i.HasRepPrefix && !i.HasRepnePrefix)
        {
            cpu.Memory.Write(cpu.Gpr[CpuCore.Rdi] & mask, width, value);
            WriteSized(cpu, CpuCore.Rdi, mask, cpu.Gpr[CpuCore.Rdi] + step);
            return;
        }
        for (int n = 0; n < MaxIterationsPerExecution; n++)
        {
            ulong count = cpu.Gpr[CpuCore.Rcx] & mask;
            if (count == 0) return;
            cpu.Memory.Write(cpu.Gpr[CpuCore.Rdi] & mask, width, value);
            WriteSized(cpu, CpuCore.Rdi, mask, cpu.Gpr[CpuCore.Rdi] + step);
            WriteSized(cpu, CpuCore.Rcx, mask, count - 1);
        }
        if ((cpu.Gpr[CpuCore.Rcx] & mask) != 0) ResumeLater(cpu, i);
    }

    private static void Lods(CpuCore cpu, ref Instruction i)
    {
        int width = Width(i);
        ulong mask = AddressMask(i), source = SourceBase(cpu, i);
        ulong step = (ulong)Step(cpu, width);
        var accumulator = i.Op0Register;
        if (!i.HasRepPrefix && !i.HasRepnePrefix)
        {
            Operands.WriteRegister(cpu, accumulator, cpu.Memory.Read(source + (cpu.Gpr[CpuCore.Rsi] & mask), width));
            WriteSized(cpu, CpuCore.Rsi, mask, cpu.Gpr[CpuCore.Rsi] + step);
            return;
        }
        for (int n = 0; n < MaxIterationsPerExecution; n++)
        {
            ulong count = cpu.Gpr[CpuCore.Rcx] & mask;
            if (count == 0) return;
            Operands.WriteRegister(cpu, accumulator, cpu.Memory.Read(source + (cpu.Gpr[CpuCore.Rsi] & mask), width));
            WriteSized(cpu, CpuCore.Rsi, mask, cpu.Gpr[CpuCore.Rsi] + step);
            WriteSized(cpu, CpuCore.Rcx, mask, count - 1);
        }
        if ((cpu.Gpr[CpuCore.Rcx] & mask) != 0) ResumeLater(cpu, i);
    }

    /// <summary>CMPS compares DS:[RSI] with ES:[RDI] (flags of source minus destination).</summary>
    private static void Cmps(CpuCore cpu, ref Instruction i)
    {
        int width = Width(i);
        ulong mask = AddressMask(i), source = SourceBase(cpu, i), operandMask = Operands.Mask(width);
        ulong step = (ulong)Step(cpu, width);
        bool repeated = i.HasRepPrefix || i.HasRepnePrefix;
        for (int n = 0; n < MaxIterationsPerExecution; n++)
        {
            ulong count = cpu.Gpr[CpuCore.Rcx] & mask;
            if (repeated && count == 0) return;
            ulong left = cpu.Memory.Read(source + (cpu.Gpr[CpuCore.Rsi] & mask), width);
            ulong right = cpu.Memory.Read(cpu.Gpr[CpuCore.Rdi] & mask, width);
            cpu.Flags.Set(FlagOperation.Sub, width, left, right, (left - right) & operandMask);
            WriteSized(cpu, CpuCore.Rsi, mask, cpu.Gpr[CpuCore.Rsi] + step);
            WriteSized(cpu, CpuCore.Rdi, mask, cpu.Gpr[CpuCore.Rdi] + step);
            if (!repeated) return;
            WriteSized(cpu, CpuCore.Rcx, mask, count - 1);
            if (StopsOnZero(cpu, i)) return;
        }
        if ((cpu.Gpr[CpuCore.Rcx] & mask) != 0) ResumeLater(cpu, i);
    }

    /// <summary>SCAS compares the accumulator with ES:[RDI].</summary>
    private static void Scas(CpuCore cpu, ref Instruction i)
    {
        int width = Width(i);
        ulong mask = AddressMask(i), operandMask = Operands.Mask(width);
        ulong step = (ulong)Step(cpu, width);
        ulong accumulator = cpu.Gpr[CpuCore.Rax] & operandMask;
        bool repeated = i.HasRepPrefix || i.HasRepnePrefix;
        for (int n = 0; n < MaxIterationsPerExecution; n++)
        {
            ulong count = cpu.Gpr[CpuCore.Rcx] & mask;
            if (repeated && count == 0) return;
            ulong right = cpu.Memory.Read(cpu.Gpr[CpuCore.Rdi] & mask, width);
            cpu.Flags.Set(FlagOperation.Sub, width, accumulator, right, (accumulator - right) & operandMask);
            WriteSized(cpu, CpuCore.Rdi, mask, cpu.Gpr[CpuCore.Rdi] + step);
            if (!repeated) return;
            WriteSized(cpu, CpuCore.Rcx, mask, count - 1);
            if (StopsOnZero(cpu, i)) return;
        }
        if ((cpu.Gpr[CpuCore.Rcx] & mask) != 0) ResumeLater(cpu, i);
    }

    /// <summary>REPE (F3) stops when ZF is clear, REPNE (F2) when ZF is set.</summary>
    private static bool StopsOnZero(CpuCore cpu, in Instruction i) => i.HasRepePrefix ? !cpu.Flags.Zero : cpu.Flags.Zero;
}
