using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using static Sharpvisor.Engines.Emulator.Execution.CpuCore;

namespace Sharpvisor.Engines.Emulator.Instructions.SystemMode;

/// <summary>
/// IN, OUT, INS and OUTS (with REP) through <see cref="CpuCore.Ports"/>. In protected mode with CPL &gt; IOPL the
/// TSS I/O permission bitmap decides (every bit of the accessed ports clear), else #GP(0). With no bus attached,
/// reads return all ones and writes are dropped, like an empty ISA bus. A repeated INS/OUTS runs at most
/// <see cref="MaxIterationsPerExecution"/> transfers per execution and then resumes itself, as the string
/// instructions do. INS translates its destination before it reads the port, so a page fault does not lose a byte.
/// </summary>
public static class PortIo
{
    public const int MaxIterationsPerExecution = 1024;

    public static unsafe void Register(InstructionTable table)
    {
        foreach (var code in new[] { Code.In_AL_imm8, Code.In_AX_imm8, Code.In_EAX_imm8, Code.In_AL_DX, Code.In_AX_DX, Code.In_EAX_DX })
            table.Set(code, &In);
        foreach (var code in new[] { Code.Out_imm8_AL, Code.Out_imm8_AX, Code.Out_imm8_EAX, Code.Out_DX_AL, Code.Out_DX_AX, Code.Out_DX_EAX })
            table.Set(code, &Out);
        table.Set(Code.Insb_m8_DX, &Ins);
        table.Set(Code.Insw_m16_DX, &Ins);
        table.Set(Code.Insd_m32_DX, &Ins);
        table.Set(Code.Outsb_DX_m8, &Outs);
        table.Set(Code.Outsw_DX_m16, &Outs);
        table.Set(Code.Outsd_DX_m32, &Outs);
    }

    /// <summary>Whether the current privilege may access <paramref name="size"/> ports from <paramref name="port"/>.</summary>
    public static bool Permitted(CpuCore cpu, ushort port, int size)
    {
        if (Privilege.IoPrivileged(cpu)) return true;
        ref var tr = ref cpu.Tr;
        if ((tr.Attributes & SegmentCache.UnusableBit) != 0 || tr.Limit < 0x67) return false;
        uint mapBase = (uint)Segmentation.ReadSystem(cpu, tr.Base + 0x66, 2);
        uint at = mapBase + (uint)(port >> 3);
        if (at + 1 > tr.Limit) return false;
        uint bits = (uint)Segmentation.ReadSystem(cpu, tr.Base + at, 2);
        uint mask = ((1u << size) - 1) << (port & 7);
        return (bits & mask) == 0;
    }

    private static void Check(CpuCore cpu, ushort port, int size)
    {
        if (!Permitted(cpu, port, size)) throw new GuestFault(GuestFault.GeneralProtection, 0);
    }

    public static ulong ReadPort(CpuCore cpu, ushort port, int size)
    {
        Span<byte> data = stackalloc byte[4];
        cpu.PortAccesses++;
        if (cpu.Ports is { } bus) bus.Read(port, data[..size]);
        else data.Fill(0xFF);
        return size switch { 1 => data[0], 2 => global::System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(data), _ => global::System.Buffers.Binary.BinaryPrimitives.ReadUInt32LittleEndian(data) };
    }

    public static void WritePort(CpuCore cpu, ushort port, int size, ulong value)
    {
        Span<byte> data = stackalloc byte[4];
        global::System.Buffers.Binary.BinaryPrimitives.WriteUInt32LittleEndian(data, (uint)value);
        cpu.PortAccesses++;
        cpu.Ports?.Write(port, data[..size]);
    }

    private static void In(CpuCore cpu, ref Instruction i)
    {
        ushort port = i.Op1Kind == OpKind.Register ? (ushort)cpu.Gpr[Rdx] : i.Immediate8;
        int size = Operands.RegisterWidth(i.Op0Register);
        Check(cpu, port, size);
        Operands.WriteRegister(cpu, i.Op0Register, ReadPort(cpu, port, size));
    }

    private static void Out(CpuCore cpu, ref Instruction i)
    {
        ushort port = i.Op0Kind == OpKind.Register ? (ushort)cpu.Gpr[Rdx] : i.Immediate8;
        int size = Operands.RegisterWidth(i.Op1Register);
        Check(cpu, port, size);
        WritePort(cpu, port, size, Operands.ReadRegister(cpu, i.Op1Register));
    }

    private static ulong AddressMask(OpKind kind) => kind switch
    {
        OpKind.MemorySegRSI or OpKind.MemoryESRDI => ulong.MaxValue,
        OpKind.MemorySegESI or OpKind.MemoryESEDI => 0xFFFF_FFFF,
        _ => 0xFFFF,
    };

    private static void Advance(CpuCore cpu, int register, ulong mask, long step)
    {
        ref ulong r = ref cpu.Gpr[register];
        ulong next = r + (ulong)step;
        r = mask == 0xFFFF ? (r & ~0xFFFFUL) | (next & 0xFFFF) : next & mask;
    }

    private static void Ins(CpuCore cpu, ref Instruction i)
    {
        int size = i.MemorySize.GetSize();
        ushort port = (ushort)cpu.Gpr[Rdx];
        Check(cpu, port, size);
        ulong mask = AddressMask(i.Op0Kind);
        long step = cpu.Direction ? -size : size;
        ulong segmentBase = cpu.SixtyFourBitMode ? 0 : cpu.Segments[Es].Base;
        bool repeated = i.HasRepPrefix || i.HasRepnePrefix;
        for (int n = 0; n < MaxIterationsPerExecution; n++)
        {
            if (repeated && (cpu.Gpr[Rcx] & mask) == 0) return;
            ulong linear = segmentBase + (cpu.Gpr[Rdi] & mask);
            if (!cpu.SixtyFourBitMode) linear = (uint)linear;
            cpu.Memory.Translator.Translate(linear, Memory.AccessKind.Write);
            cpu.Memory.Write(linear, size, ReadPort(cpu, port, size));
            Advance(cpu, Rdi, mask, step);
            if (!repeated) return;
            Advance(cpu, Rcx, mask, -1);
        }
        if ((cpu.Gpr[Rcx] & mask) != 0) cpu.Rip = i.IP; // resume later
    }

    private static void Outs(CpuCore cpu, ref Instruction i)
    {
        int size = i.MemorySize.GetSize();
        ushort port = (ushort)cpu.Gpr[Rdx];
        Check(cpu, port, size);
        ulong mask = AddressMask(i.Op1Kind);
        long step = cpu.Direction ? -size : size;
        var segment = i.MemorySegment;
        ulong segmentBase = cpu.SixtyFourBitMode
            ? segment == Iced.Intel.Register.FS ? cpu.FsBase : segment == Iced.Intel.Register.GS ? cpu.GsBase : 0
            : Operands.SegmentBase(cpu, segment);
        bool repeated = i.HasRepPrefix || i.HasRepnePrefix;
        for (int n = 0; n < MaxIterationsPerExecution; n++)
        {
            if (repeated && (cpu.Gpr[Rcx] & mask) == 0) return;
            ulong linear = segmentBase + (cpu.Gpr[Rsi] & mask);
            if (!cpu.SixtyFourBitMode) linear = (uint)linear;
            WritePort(cpu, port, size, cpu.Memory.Read(linear, size));
            Advance(cpu, Rsi, mask, step);
            if (!repeated) return;
            Advance(cpu, Rcx, mask, -1);
        }
        if ((cpu.Gpr[Rcx] & mask) != 0) cpu.Rip = i.IP;
    }
}
