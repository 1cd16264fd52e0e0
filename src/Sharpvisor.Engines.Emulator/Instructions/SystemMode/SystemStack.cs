using Sharpvisor.Engines.Emulator.Execution;

namespace Sharpvisor.Engines.Emulator.Instructions.SystemMode;

/// <summary>
/// Pushes and pops for far transfers and IRET in every mode: in 64-bit mode RSP is the address; outside it the
/// address is SS.base + ESP (big stack, SS.B) or + SP, and only that part of RSP changes.
/// </summary>
public static class SystemStack
{
    private static ulong Mask(CpuCore cpu) =>
        cpu.SixtyFourBitMode ? ulong.MaxValue : cpu.Segments[CpuCore.Ss].DefaultBig ? 0xFFFF_FFFF : 0xFFFF;

    /// <summary>The linear address of the stack slot <paramref name="offset"/> bytes from RSP.</summary>
    public static ulong Address(CpuCore cpu, long offset)
    {
        ulong rsp = cpu.Gpr[CpuCore.Rsp] + (ulong)offset;
        if (cpu.SixtyFourBitMode) return rsp;
        return (uint)(cpu.Segments[CpuCore.Ss].Base + (rsp & Mask(cpu)));
    }

    public static ulong Read(CpuCore cpu, long offset, int width) => cpu.Memory.Read(Address(cpu, offset), width);

    public static void Write(CpuCore cpu, long offset, int width, ulong value) => cpu.Memory.Write(Address(cpu, offset), width, value);

    /// <summary>Moves RSP by <paramref name="delta"/> within the stack's width.</summary>
    public static void Adjust(CpuCore cpu, long delta)
    {
        ulong mask = Mask(cpu);
        ref ulong rsp = ref cpu.Gpr[CpuCore.Rsp];
        rsp = (rsp & ~mask) | ((rsp + (ulong)delta) & mask);
        if (mask == 0xFFFF_FFFF) rsp = (uint)rsp;
    }

    public static void Push(CpuCore cpu, ulong value, int width)
    {
        Write(cpu, -width, width, value);
        Adjust(cpu, -width);
    }

    public static ulong Pop(CpuCore cpu, int width)
    {
        ulong value = Read(cpu, 0, width);
        Adjust(cpu, width);
        return value;
    }
}
