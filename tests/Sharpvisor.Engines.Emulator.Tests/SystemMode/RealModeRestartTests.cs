using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.Engines.Emulator.Tests.SystemMode;

/// <summary>
/// The way Linux reboots through the BIOS (its real-mode restart): from 32-bit protected mode a far jump to a 16-bit
/// code segment based at the trampoline, CR0.PE cleared there, a far jump to the trampoline's real-mode segment, and
/// one to F000:FFF0, the reset vector.
/// </summary>
public class RealModeRestartTests
{
    private const ulong Trampoline = 0x98000, ResetVector = 0xFFFF0;

    [Fact]
    public void Protected_to_real_mode_and_a_far_jump_to_the_reset_vector()
    {
        using var h = new EmulatorHarness();
        var cpu = h.Cpu;
        h.Ram.WriteUInt64(0x1008, 0x0000_9B09_8000_FFFF); // 0x08: 16-bit code, base 0x98000, limit 0xFFFF
        h.Ram.WriteUInt64(0x1010, 0x0000_9300_0100_FFFF); // 0x10: 16-bit data, base 0x100
        h.Ram.WriteByte(ResetVector, 0xF4);                // hlt
        // 32-bit: load the 16-bit data segments, then ljmpw $8, $0x100.
        var a32 = new Assembler(32);
        a32.mov(ecx, 0x10);
        a32.mov(ds, cx);
        a32.mov(ss, cx);
        a32.db(0x66, 0xEA, 0x00, 0x01, 0x08, 0x00);
        Write(h, 0x10000, a32, 0x10000);
        // 16-bit, at offset 0x100 of the trampoline.
        var a16 = new Assembler(16);
        var real = a16.CreateLabel();
        var bios = a16.CreateLabel();
        a16.xor(ecx, ecx);
        a16.mov(edx, cr0);
        a16.and(edx, 0x11);
        a16.or(edx, 0x6000_0000);
        a16.mov(cr0, edx);
        a16.mov(cr3, ecx);
        a16.and(dl, 0x10);
        a16.mov(cr0, edx);
        a16.db(0xEA, 0x40, 0x01, 0x00, 0x98);             // ljmpw $0x9800, $0x140
        Write(h, Trampoline + 0x100, a16, 0x100);
        var r16 = new Assembler(16);
        r16.and(ax, ax);
        r16.db(0xEA, 0xF0, 0xFF, 0x00, 0xF0);             // ljmpw $0xf000, $0xfff0
        Write(h, Trampoline + 0x140, r16, 0x140);

        cpu.Cr0 = 0x11;
        cpu.GdtBase = 0x1000; cpu.GdtLimit = 0x17;
        cpu.Segments[CpuCore.Cs] = Segmentation.FromDescriptor(0x18, 0x00CF_9B00_0000_FFFF);
        cpu.Segments[CpuCore.Ss] = Segmentation.FromDescriptor(0x20, 0x00CF_9300_0000_FFFF);
        cpu.Rip = 0x10000;
        cpu.DeliverExceptions = false;
        cpu.UpdateBitness();
        var reason = h.Interpreter.Run(100);
        Assert.True(reason == StopReason.Halted, $"{reason}: {h.Interpreter.LastFault?.Message} at CS {cpu.Segments[CpuCore.Cs].Selector:x}:{cpu.Rip:x}");
        Assert.Equal(0xF000, cpu.Segments[CpuCore.Cs].Selector);
        Assert.Equal(0xF0000UL, cpu.Segments[CpuCore.Cs].Base);
        Assert.Equal(0xFFF1UL, cpu.Rip);
        Assert.Equal(16, cpu.Bitness);
    }

    /// <summary>The machine's code at the reset vector, run in real mode: it writes the reset value to the reset port.</summary>
    [Fact]
    public void The_reset_vector_code_writes_the_reset_register()
    {
        using var h = new EmulatorHarness();
        var cpu = h.Cpu;
        var ports = new Machine.Buses.PortIoBus();
        var written = new List<(ulong Port, byte Value)>();
        ports.Register(Machine.Devices.Power.AcpiPowerDevice.ResetPort, 1, new RecordingPort(written), "reset register");
        cpu.Ports = ports;
        Machine.Boot.ResetVector.WriteTo(h.Ram);
        ProcessorReset.Init(cpu);
        cpu.Segments[CpuCore.Cs] = cpu.Segments[CpuCore.Cs] with { Selector = 0xF000, Base = 0xF0000 };
        cpu.Rip = 0xFFF0;
        cpu.DeliverExceptions = false;
        cpu.UpdateBitness();
        Assert.Equal(StopReason.Halted, h.Interpreter.Run(10));
        Assert.Equal([(0UL, Machine.Devices.Power.AcpiPowerDevice.ResetValue)], written);
    }

    private sealed class RecordingPort(List<(ulong Port, byte Value)> written) : Machine.Buses.IBusDevice
    {
        public void Read(ulong offset, Span<byte> data) => data.Clear();
        public void Write(ulong offset, ReadOnlySpan<byte> data) => written.Add((offset, data[0]));
    }

    private static void Write(EmulatorHarness h, ulong linear, Assembler a, ulong ip)
    {
        var stream = new MemoryStream();
        a.Assemble(new StreamCodeWriter(stream), ip);
        h.Ram.Write(linear, stream.ToArray());
    }
}
