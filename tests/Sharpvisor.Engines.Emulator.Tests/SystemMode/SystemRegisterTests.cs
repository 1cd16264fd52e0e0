using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Engines.Emulator.Memory;
using Sharpvisor.Machine.Buses;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.Engines.Emulator.Tests.SystemMode;

public class SystemRegisterTests
{
    private const ulong Code = EmulatorHarness.CodeAddress;

    /// <summary>Identity translation that records what the CPU asked it to drop.</summary>
    private sealed class RecordingTranslator : IAddressTranslator
    {
        public readonly List<string> Events = [];
        public ulong Translate(ulong linear, AccessKind kind) => linear;
        public void Flush(bool includeGlobal) => Events.Add(includeGlobal ? "flush all" : "flush non-global");
        public void InvalidatePage(ulong linear) => Events.Add($"invlpg {linear:x}");
    }

    private sealed class LatchDevice : IBusDevice
    {
        public readonly List<(ulong Offset, byte[] Data)> Writes = [];
        public byte Next = 0x40;
        public void Read(ulong offset, Span<byte> data) { for (int n = 0; n < data.Length; n++) data[n] = Next++; }
        public void Write(ulong offset, ReadOnlySpan<byte> data) => Writes.Add((offset, data.ToArray()));
    }

    private sealed class ClockMsr : IModelSpecificRegisterHandler
    {
        public ulong Value;
        public bool TryRead(uint index, out ulong value) { value = Value; return index == 0x4B56_4D01; }
        public bool TryWrite(uint index, ulong value) { if (index != 0x4B56_4D01) return false; Value = value; return true; }
    }

    [Fact]
    public void ControlRegisterWritesFlushAsTheArchitectureRequires()
    {
        var recorder = new RecordingTranslator();
        using var m = new SystemMachine(recorder);
        ulong end = m.H.Load(a =>
        {
            a.mov(rax, 0x123000);
            a.mov(cr3, rax);                         // non-global flush
            a.mov(rax, cr4);
            a.and(rax, ~(int)CpuCore.Cr4Pge);
            a.mov(cr4, rax);                         // PGE change: everything
            a.invlpg(__byte_ptr[0x7000]);
            a.mov(rax, cr4);
            a.or(rax, 1 << 9);                       // OSFXSR again: no flush
            a.mov(cr4, rax);
            a.mov(rax, cr0);
            a.and(eax, ~(1 << 16));
            a.mov(cr0, rax);                         // WP change: everything
            a.mov(eax, 5);
            a.mov(cr8, rax);
            a.mov(rbx, cr8);
            a.mov(rcx, cr3);
        });
        m.H.RunTo(end);
        Assert.Equal(["flush non-global", "flush all", "invlpg 7000", "flush all"], recorder.Events);
        Assert.Equal(0x123000UL, m.Cpu.Cr3);
        Assert.Equal(5UL, m.Cpu.Gpr[CpuCore.Rbx]);
        Assert.Equal(0x50, m.Cpu.TaskPriorityWithoutApic);
        Assert.Equal(0x123000UL, m.Cpu.Gpr[CpuCore.Rcx]);
    }

    [Theory]
    [InlineData(1UL << 12, 4)]          // CR4.LA57: not advertised
    [InlineData(1UL << 20, 4)]          // CR4.SMEP: not advertised
    [InlineData(1UL << 45, 3)]          // CR3 beyond 40 physical address bits
    [InlineData(0x1_0000_0000UL, 0)]    // CR0 upper half
    [InlineData(0x10UL, 8)]             // CR8 above 15
    public void ReservedControlRegisterBitsRaiseGeneralProtection(ulong value, int register)
    {
        using var m = new SystemMachine();
        ulong current = register switch { 0 => m.Cpu.Cr0, 4 => m.Cpu.Cr4, _ => 0 };
        m.Cpu.Gpr[CpuCore.Rax] = current | value;
        var cr = register switch { 0 => cr0, 3 => cr3, 4 => cr4, _ => cr8 };
        m.H.Load(a => a.mov(cr, rax));
        Assert.Equal(StopReason.Halted, m.Run());
        Assert.True(m.HaltedIn(GuestFault.GeneralProtection));
        Assert.Equal(Code, m.StackQword(1));
    }

    [Fact]
    public void PagingWithLongModeEnableActivatesLongMode()
    {
        using var m = new SystemMachine();
        var cpu = m.Cpu;
        cpu.Cr0 = 0x11;                                   // protected mode, no paging
        cpu.Efer = CpuCore.EferLongModeEnable;
        cpu.Segments[CpuCore.Cs] = Segmentation.FromDescriptor(0x18, SystemMachine.Descriptors[3] & ~(3UL << 45)); // 32-bit ring-0 code
        cpu.UpdateBitness();
        Assert.Equal(32, cpu.Bitness);
        var a = new Assembler(32);
        a.mov(eax, cr0);
        a.or(eax, unchecked((int)0x8000_0000));
        a.mov(cr0, eax);
        a.nop();
        var stream = new MemoryStream();
        a.Assemble(new StreamCodeWriter(stream), Code);
        m.H.Ram.Write(Code, stream.ToArray());
        cpu.Rip = Code;
        m.H.RunTo(Code + (ulong)stream.Length);
        Assert.True(cpu.LongModeActive);
        Assert.Equal(32, cpu.Bitness);                    // compatibility mode until a far jump loads a 64-bit CS
    }

    [Fact]
    public void MsrsRoundTripAndUnknownOnesRaiseGeneralProtectionReportedOnce()
    {
        using var m = new SystemMachine();
        var reported = new List<(uint, bool)>();
        m.Cpu.UnknownMsrAccessed = (index, write) => reported.Add((index, write));
        var clock = new ClockMsr();
        m.Cpu.MsrHandlers.Add(clock);
        ulong end = m.H.Load(a =>
        {
            a.mov(ecx, 0xC000_0082);   // LSTAR
            a.mov(eax, 0x8123_4000);
            a.mov(edx, 0xFFFF_FFFF);
            a.wrmsr();
            a.xor(eax, eax);
            a.xor(edx, edx);
            a.rdmsr();
            a.mov(r8, rax);
            a.mov(r9, rdx);
            a.mov(ecx, 0x4B56_4D01);   // handled outside the core
            a.mov(eax, 0x77);
            a.xor(edx, edx);
            a.wrmsr();
            a.mov(ecx, 0x277);         // PAT
            a.rdmsr();
            a.mov(r10, rax);
            a.mov(r11, rdx);
        });
        m.H.RunTo(end);
        Assert.Equal(0xFFFF_FFFF_8123_4000UL, m.Cpu.Lstar);
        Assert.Equal(0x8123_4000UL, m.Cpu.Gpr[8]);
        Assert.Equal(0xFFFF_FFFFUL, m.Cpu.Gpr[9]);
        Assert.Equal(0x77UL, clock.Value);
        Assert.Equal(0x0007_0406UL, m.Cpu.Gpr[10]);
        Assert.Equal(0x0007_0406UL, m.Cpu.Gpr[11]);

        foreach (var write in new[] { false, true, false })
        {
            using var n = new SystemMachine();
            n.Cpu.UnknownMsrAccessed = m.Cpu.UnknownMsrAccessed;
            n.Cpu.Gpr[CpuCore.Rcx] = 0x3A; // IA32_FEATURE_CONTROL: absent on this CPU model
            n.H.Load(a => { if (write) a.wrmsr(); else a.rdmsr(); });
            Assert.Equal(StopReason.Halted, n.Run());
            Assert.True(n.HaltedIn(GuestFault.GeneralProtection));
            Assert.Equal(0UL, n.StackQword(0));
        }
        Assert.Equal(3, reported.Count); // once per core and index: three cores here
        ulong before = m.Cpu.Rip;
        Assert.Throws<GuestFault>(() => ModelSpecificRegisters.Read(m.Cpu, 0x3A));
        Assert.Throws<GuestFault>(() => ModelSpecificRegisters.Read(m.Cpu, 0x3A));
        Assert.Equal(4, reported.Count);             // and not again on the same core
        Assert.Equal((0x3Au, false), reported[^1]);
        Assert.Throws<GuestFault>(() => ModelSpecificRegisters.Write(m.Cpu, 0x277, 0x0007_0406_0007_0402)); // type 2 is reserved
        Assert.Throws<GuestFault>(() => ModelSpecificRegisters.Write(m.Cpu, 0xC000_0080, 1 << 12));           // EFER.SVME
        Assert.Equal(before, m.Cpu.Rip);
    }

    [Fact]
    public void TscWritesAdjustTheOffsetTheGuestReads()
    {
        using var m = new SystemMachine();
        ulong clock = 1000;
        m.Cpu.TimeStampCounter = () => clock;
        ModelSpecificRegisters.Write(m.Cpu, ModelSpecificRegisters.Tsc, 5000);
        clock = 1500;
        Assert.Equal(5500UL, ModelSpecificRegisters.Read(m.Cpu, ModelSpecificRegisters.Tsc));
        ulong end = m.H.Load(a => a.rdtsc());
        m.H.RunTo(end);
        Assert.Equal(5500UL, m.Cpu.Gpr[CpuCore.Rax]);
    }

    [Fact]
    public void PortIoReachesTheBusAndUserLevelNeedsTheIoBitmap()
    {
        using var m = new SystemMachine();
        var ports = new PortIoBus();
        var device = new LatchDevice();
        ports.Register(0x3F8, 8, device);
        m.Cpu.Ports = ports;
        m.H.Ram.Write(0x6000, "hi!"u8.ToArray());
        ulong end = m.H.Load(a =>
        {
            a.mov(edx, 0x3F8);
            a.mov(al, 0x41);
            a.@out(dx, al);
            a.@in(eax, dx);
            a.mov(r8, rax);
            a.mov(esi, 0x6000);
            a.mov(ecx, 3);
            a.rep.outsb();
            a.mov(edi, 0x7000);
            a.mov(ecx, 2);
            a.rep.insb();
            a.@in(al, 0x80);          // nothing there: all ones
        });
        m.H.RunTo(end);
        Assert.Equal(0x4342_4140UL, m.Cpu.Gpr[8]);
        Assert.Equal(["A", "h", "i", "!"], device.Writes.Select(w => System.Text.Encoding.ASCII.GetString(w.Data)));
        Assert.Equal(0x45UL << 8 | 0x44, m.H.Ram.ReadUInt64(0x7000) & 0xFFFF);
        Assert.Equal(0xFFUL, m.Cpu.Gpr[CpuCore.Rax] & 0xFF);

        using var user = new SystemMachine();
        user.Cpu.Ports = ports;
        user.H.Load(a => { a.mov(edx, 0x3F8); a.@in(al, dx); a.@in(ax, dx); });
        user.EnterUserMode(Code);
        user.H.Ram.WriteByte(SystemMachine.Tss + 0x68 + 0x3F8 / 8, 0xFE); // port 0x3F8 only
        Assert.Equal(StopReason.Halted, user.Run());
        Assert.True(user.HaltedIn(GuestFault.GeneralProtection));
        Assert.Equal(Code + 6, user.StackQword(1));                      // the byte read passed, the word read (0x3F8-0x3F9) did not
    }

    [Fact]
    public void DescriptorTableInstructionsLoadAndStore()
    {
        using var m = new SystemMachine();
        m.H.Ram.WriteUInt16(0x6000, 0x1FF);
        m.H.Ram.WriteUInt64(0x6002, 0x9000);
        m.Cpu.Tr = Segmentation.Null(0);
        m.H.Ram.WriteUInt64(SystemMachine.Gdt + 0x30, m.H.Ram.ReadUInt64(SystemMachine.Gdt + 0x30)); // still "available"
        ulong end = m.H.Load(a =>
        {
            a.sgdt(__[0x6010]);
            a.mov(eax, SystemMachine.TssSelector);
            a.ltr(ax);
            a.str(ebx);
            a.mov(ecx, SystemMachine.UserData);
            a.lsl(edx, ecx);
            a.lar(esi, ecx);
            a.verw(cx);
            a.lidt(__[0x6000]);
            a.sidt(__[0x6020]);
        });
        m.H.RunTo(end);
        Assert.Equal(0x3FUL, m.H.Ram.ReadUInt64(0x6010) & 0xFFFF);
        Assert.Equal(SystemMachine.Gdt, m.H.Ram.ReadUInt64(0x6012));
        Assert.Equal(SystemMachine.TssSelector, m.Cpu.Tr.Selector);
        Assert.Equal(SystemMachine.Tss, m.Cpu.Tr.Base);
        Assert.Equal(0xB, m.Cpu.Tr.Type);                                          // busy
        Assert.Equal(0xBUL, (m.H.Ram.ReadUInt64(SystemMachine.Gdt + 0x30) >> 40) & 0xF); // and so in the GDT
        Assert.Equal((ulong)SystemMachine.TssSelector, m.Cpu.Gpr[CpuCore.Rbx]);
        Assert.Equal(0xFFFF_FFFFUL, m.Cpu.Gpr[CpuCore.Rdx]);
        Assert.Equal(0x00C0_F300UL, m.Cpu.Gpr[CpuCore.Rsi]);                        // limit 19:16 masked out
        Assert.True(m.Cpu.Flags.Zero);
        Assert.Equal((0x9000UL, (ushort)0x1FF), (m.Cpu.IdtBase, m.Cpu.IdtLimit));
        Assert.Equal(0x9000UL, m.H.Ram.ReadUInt64(0x6022));
    }
}
