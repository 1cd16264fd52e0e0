using System.Runtime.CompilerServices;
using Iced.Intel;

namespace Sharpvisor.Engines.Emulator.Execution;

/// <summary>Reading and writing an instruction's operands: registers by Iced's register number, memory, immediates.</summary>
public static class Operands
{
    private readonly record struct Slot(byte Index, byte Width, bool HighByte);

    private static readonly Slot[] Slots = BuildSlots();

    private static Slot[] BuildSlots()
    {
        var slots = new Slot[(int)Enum.GetValues<Register>().Max() + 1];
        for (int i = 0; i < slots.Length; i++)
        {
            var r = (Register)i;
            if (!r.IsGPR()) continue;
            bool high = r is Register.AH or Register.CH or Register.DH or Register.BH;
            int index = high ? r - Register.AH : r.GetFullRegister() - Register.RAX;
            slots[i] = new Slot((byte)index, (byte)r.GetSize(), high);
        }
        return slots;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong Mask(int width) => width == 8 ? ulong.MaxValue : (1UL << (width * 8)) - 1;

    public static int RegisterWidth(Register register) => Slots[(int)register].Width;

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static ulong ReadRegister(CpuCore cpu, Register register)
    {
        var s = Slots[(int)register];
        ulong value = cpu.Gpr[s.Index];
        return s.HighByte ? (value >> 8) & 0xFF : value & Mask(s.Width);
    }

    /// <summary>Writes with x86-64's rules: a 32-bit write clears the upper half, 8- and 16-bit writes merge.</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static void WriteRegister(CpuCore cpu, Register register, ulong value)
    {
        var s = Slots[(int)register];
        ref ulong slot = ref cpu.Gpr[s.Index];
        slot = s.Width switch
        {
            8 => value,
            4 => (uint)value,
            2 => (slot & ~0xFFFFUL) | (value & 0xFFFF),
            _ => s.HighByte ? (slot & ~0xFF00UL) | ((value & 0xFF) << 8) : (slot & ~0xFFUL) | (value & 0xFF),
        };
    }

    /// <summary>
    /// The linear address of the memory operand: base + index * scale + displacement, plus the segment base: FS or GS
    /// only in 64-bit mode, the effective segment's (Iced's MemorySegment) outside it, where the sum wraps at 4 GiB
    /// and 16-bit addressing wraps the offset at 64 KiB. <paramref name="withSegmentBase"/> false gives the offset (LEA).
    /// </summary>
    public static ulong EffectiveAddress(CpuCore cpu, in Instruction instruction, bool withSegmentBase = true)
    {
        ulong address = instruction.MemoryDisplacement64; // Iced resolves RIP-relative operands to the absolute target
        var @base = instruction.MemoryBase;
        if (@base != Register.None && @base != Register.RIP && @base != Register.EIP) address += ReadRegister(cpu, @base);
        var index = instruction.MemoryIndex;
        if (index != Register.None) address += ReadRegister(cpu, index) * (ulong)instruction.MemoryIndexScale;
        if (@base.IsGPR32() || index.IsGPR32() || @base == Register.EIP) address = (uint)address;
        if (cpu.Bitness != 64) return LegacyAddress(cpu, instruction, address, withSegmentBase);
        if (!withSegmentBase) return address;
        var segment = instruction.MemorySegment;
        if (segment == Register.FS) return address + cpu.FsBase;
        if (segment == Register.GS) return address + cpu.GsBase;
        return address;
    }

    // Kept out of line so 64-bit mode pays one compare for it.
    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong LegacyAddress(CpuCore cpu, in Instruction instruction, ulong offset, bool withSegmentBase)
    {
        var @base = instruction.MemoryBase;
        var index = instruction.MemoryIndex;
        bool sixteenBitAddressing = @base.IsGPR16() || index.IsGPR16()
            || (@base == Register.None && index == Register.None && instruction.MemoryDisplSize == 2);
        offset = sixteenBitAddressing ? offset & 0xFFFF : (uint)offset;
        if (!withSegmentBase) return offset;
        return (uint)(SegmentBase(cpu, instruction.MemorySegment) + offset);
    }

    /// <summary>The base of a segment register named by Iced (ES, CS, SS, DS, FS, GS).</summary>
    public static ulong SegmentBase(CpuCore cpu, Register segment) => segment switch
    {
        Register.ES => cpu.Segments[CpuCore.Es].Base,
        Register.CS => cpu.Segments[CpuCore.Cs].Base,
        Register.SS => cpu.Segments[CpuCore.Ss].Base,
        Register.FS => cpu.Segments[CpuCore.Fs].Base,
        Register.GS => cpu.Segments[CpuCore.Gs].Base,
        _ => cpu.Segments[CpuCore.Ds].Base,
    };

    /// <summary>The data width of an operand: a register's size, the memory operand's size, or <paramref name="fallback"/> for immediates.</summary>
    public static int Width(in Instruction instruction, int operand, int fallback = 8) => instruction.GetOpKind(operand) switch
    {
        OpKind.Register => Slots[(int)instruction.GetOpRegister(operand)].Width,
        OpKind.Memory => instruction.MemorySize.GetSize(),
        _ => fallback,
    };

    /// <summary>An operand's value, zero-extended from <paramref name="width"/> bytes (immediates sign-extended to it first).</summary>
    public static ulong Read(CpuCore cpu, in Instruction instruction, int operand, int width)
    {
        switch (instruction.GetOpKind(operand))
        {
            case OpKind.Register:
                return ReadRegister(cpu, instruction.GetOpRegister(operand));
            case OpKind.Memory:
                return cpu.Memory.Read(EffectiveAddress(cpu, instruction), width);
            default:
                return instruction.GetImmediate(operand) & Mask(width);
        }
    }

    public static void Write(CpuCore cpu, in Instruction instruction, int operand, int width, ulong value)
    {
        if (instruction.GetOpKind(operand) == OpKind.Register)
            WriteRegister(cpu, instruction.GetOpRegister(operand), value);
        else
            cpu.Memory.Write(EffectiveAddress(cpu, instruction), width, value & Mask(width));
    }

    public static ulong SignExtend(ulong value, int width) => width switch
    {
        1 => (ulong)(long)(sbyte)value,
        2 => (ulong)(long)(short)value,
        4 => (ulong)(long)(int)value,
        _ => value,
    };
}
