using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Engines.Emulator.Instructions;
using Sharpvisor.Machine.Cpu;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.Engines.Emulator.Tests.Instructions;

/// <summary>What the differential oracle cannot check: long and interrupted REP, 67h addressing, CPUID, the TSC, INT3.</summary>
public class StringAndSystemInstructionTests
{
    [Fact]
    public void A_long_rep_stos_runs_in_chunks_and_resumes_at_itself()
    {
        using var h = new EmulatorHarness();
        const int count = 3 * StringInstructions.MaxIterationsPerExecution + 5;
        ulong end = h.Load(a =>
        {
            a.mov(rdi, 0x200000);
            a.mov(ecx, count);
            a.mov(eax, 0xA5);
            a.rep.stosb();
        });
        ulong repAddress = end - 2; // f3 aa: the chunked instruction re-executes at its own address
        h.Interpreter.Run(3);
        h.Interpreter.Run(1);
        Assert.Equal(repAddress, h.Cpu.Rip); // one chunk done, RCX not yet 0: RIP points back at the REP
        Assert.Equal((ulong)(count - StringInstructions.MaxIterationsPerExecution), h.Cpu.Gpr[CpuCore.Rcx]);
        h.RunTo(end);
        Assert.Equal(0UL, h.Cpu.Gpr[CpuCore.Rcx]);
        Assert.Equal(0x200000UL + count, h.Cpu.Gpr[CpuCore.Rdi]);
        var bytes = new byte[count + 1];
        h.Ram.Read(0x200000, bytes);
        Assert.All(bytes[..count], b => Assert.Equal(0xA5, b));
        Assert.Equal(0, bytes[count]);
    }

    [Fact]
    public void Address_size_prefix_uses_esi_edi_ecx_and_clears_their_upper_halves()
    {
        using var h = new EmulatorHarness();
        h.Ram.Write(0x300000, "abcdefgh"u8.ToArray());
        // 67 f3 a4: rep movsb with ESI/EDI/ECX; the upper halves of the 64-bit registers are ignored and then cleared.
        h.Ram.Write(EmulatorHarness.CodeAddress, [0x67, 0xF3, 0xA4]);
        h.Cpu.Gpr[CpuCore.Rsi] = 0xFFFF_0000_0030_0000;
        h.Cpu.Gpr[CpuCore.Rdi] = 0x1234_0000_0031_0000;
        h.Cpu.Gpr[CpuCore.Rcx] = 0x7777_0000_0000_0008;
        h.RunTo(EmulatorHarness.CodeAddress + 3);
        Assert.Equal(0x300008UL, h.Cpu.Gpr[CpuCore.Rsi]);
        Assert.Equal(0x310008UL, h.Cpu.Gpr[CpuCore.Rdi]);
        Assert.Equal(0UL, h.Cpu.Gpr[CpuCore.Rcx]);
        var copy = new byte[8];
        h.Ram.Read(0x310000, copy);
        Assert.Equal("abcdefgh"u8.ToArray(), copy);
    }

    [Fact]
    public void Address_size_prefix_wraps_edi_at_four_gigabytes()
    {
        using var h = new EmulatorHarness();
        h.Ram.Write(EmulatorHarness.CodeAddress, [0x67, 0xAA]); // stosb with EDI
        h.Cpu.ControlFlags |= CpuCore.DirectionFlag;
        h.Cpu.Gpr[CpuCore.Rdi] = 0xABCD_0000_0000_0000;
        h.Cpu.Gpr[CpuCore.Rax] = 0x5A;
        h.RunTo(EmulatorHarness.CodeAddress + 2);
        Assert.Equal(0xFFFF_FFFFUL, h.Cpu.Gpr[CpuCore.Rdi]);
        var first = new byte[1];
        h.Ram.Read(0, first);
        Assert.Equal(0x5A, first[0]);
    }

    [Fact]
    public void Backward_repne_scas_stops_on_a_match_and_a_fault_mid_string_keeps_progress()
    {
        using var h = new EmulatorHarness();
        h.Ram.Write(0x400000, "xxZxxxxx"u8.ToArray());
        ulong end = h.Load(a =>
        {
            a.mov(rdi, 0x400007);
            a.mov(ecx, 100);
            a.mov(eax, 'Z');
            a.repne.scasb();
        });
        h.Cpu.ControlFlags |= CpuCore.DirectionFlag; // STD is not this group's instruction
        h.RunTo(end);
        Assert.Equal(0x400001UL, h.Cpu.Gpr[CpuCore.Rdi]);     // stopped after comparing [0x400002]
        Assert.Equal(100UL - 6, h.Cpu.Gpr[CpuCore.Rcx]);
        Assert.True(h.Cpu.Flags.Zero);

        // rep movsq from the last 16 bytes of a mapped page onwards: two iterations succeed, the third faults.
        var windows = new Sharpvisor.Engines.Emulator.Memory.WindowTranslator();
        windows.Map(EmulatorHarness.CodeAddress, 0x1000, EmulatorHarness.CodeAddress);
        windows.Map(0x200000, 0x1000, 0x200000);
        windows.Map(0x500000, 0x1000, 0x500000);
        using var f = new EmulatorHarness(windows);
        ulong top = 0x201000;
        ulong repEnd = f.Load(a => { a.mov(rsi, top - 16); a.mov(rdi, 0x500000); a.mov(ecx, 5); a.rep.movsq(); });
        Assert.Equal(StopReason.Fault, f.RunTo(repEnd));
        Assert.Equal(repEnd - 3, f.Cpu.Rip);                   // f3 48 a5
        Assert.Equal(3UL, f.Cpu.Gpr[CpuCore.Rcx]);
        Assert.Equal(top, f.Cpu.Gpr[CpuCore.Rsi]);
        Assert.Equal(0x500010UL, f.Cpu.Gpr[CpuCore.Rdi]);
    }

    [Fact]
    public void Cpuid_returns_table_leaves_subleaves_and_the_highest_basic_leaf_beyond_the_range()
    {
        using var h = new EmulatorHarness();
        h.Cpu.Cpuid =
        [
            new CpuidEntry(0, 0, false, 7, 0x756E6547, 0x6C65746E, 0x49656E69),
            new CpuidEntry(7, 0, true, 0, 0x11, 0x22, 0x33),
            new CpuidEntry(7, 1, true, 0x44, 0, 0, 0),
            new CpuidEntry(0x8000_0000, 0, false, 0x8000_0001, 0, 0, 0),
        ];
        (uint, uint, uint, uint) Run(uint function, uint index)
        {
            h.Cpu.Rip = EmulatorHarness.CodeAddress;
            h.Ram.Write(EmulatorHarness.CodeAddress, [0x0F, 0xA2]);
            h.Cpu.Gpr[CpuCore.Rax] = 0xFFFF_FFFF_0000_0000 | function;
            h.Cpu.Gpr[CpuCore.Rcx] = index;
            h.Interpreter.Blocks.Clear();
            h.RunTo(EmulatorHarness.CodeAddress + 2);
            return ((uint)h.Cpu.Gpr[CpuCore.Rax], (uint)h.Cpu.Gpr[CpuCore.Rbx], (uint)h.Cpu.Gpr[CpuCore.Rcx], (uint)h.Cpu.Gpr[CpuCore.Rdx]);
        }
        Assert.Equal((7u, 0x756E6547u, 0x6C65746Eu, 0x49656E69u), Run(0, 5));
        Assert.Equal(0UL, h.Cpu.Gpr[CpuCore.Rax] >> 32);                  // 32-bit results zero-extend
        Assert.Equal((0x44u, 0u, 0u, 0u), Run(7, 1));
        Assert.Equal((0u, 0x11u, 0x22u, 0x33u), Run(8, 0));                 // above the highest basic leaf: leaf 7
        Assert.Equal((0u, 0x11u, 0x22u, 0x33u), Run(0x8000_0005, 0));       // above the highest extended leaf too
        Assert.Equal((0u, 0u, 0u, 0u), Run(3, 0));                          // missing leaf within range
        Assert.Equal((0u, 0u, 0u, 0u), Run(7, 2));                          // missing subleaf
        Assert.Equal((0u, 0u, 0u, 0u), Run(0x4000_0000, 0));                // hypervisor range
    }

    [Fact]
    public void Rdtsc_and_rdtscp_read_the_cores_time_source_and_tsc_aux()
    {
        using var h = new EmulatorHarness();
        ulong tsc = 0x1_2345_6789;
        h.Cpu.TimeStampCounter = () => tsc += 10;
        h.Cpu.TscAux = 0xBEEF;
        h.Cpu.Gpr[CpuCore.Rax] = h.Cpu.Gpr[CpuCore.Rdx] = h.Cpu.Gpr[CpuCore.Rcx] = ulong.MaxValue;
        ulong end = h.Load(a => { a.rdtsc(); a.mov(r8, rax); a.mov(r9, rdx); a.rdtscp(); });
        h.RunTo(end);
        Assert.Equal(0x2345_6793UL, h.Cpu.Gpr[8]);
        Assert.Equal(1UL, h.Cpu.Gpr[9]);
        Assert.Equal(0x2345_679DUL, h.Cpu.Gpr[CpuCore.Rax]);
        Assert.Equal(1UL, h.Cpu.Gpr[CpuCore.Rdx]);
        Assert.Equal(0xBEEFUL, h.Cpu.Gpr[CpuCore.Rcx]);
    }

    [Fact]
    public void Int3_traps_with_rip_after_it_and_xlat_and_popf_behave()
    {
        using var h = new EmulatorHarness();
        h.Cpu.Cpl = 3; // user mode, where POPF keeps IF and IOPL
        h.Ram.Write(0x600000 + 0x42, [0x99]);
        ulong end = h.Load(a =>
        {
            a.mov(rbx, 0x600000);
            a.mov(eax, 0x1242);
            a.xlatb();
            a.push(0x200 | 0x3000 | 0x400 | 0x1);  // IF, IOPL 3, DF, CF
            a.popfq();
            a.int3();
        });
        ulong afterInt3 = end;
        Assert.Equal(StopReason.Fault, h.RunTo(end + 1, 100));
        Assert.Equal(GuestFault.Breakpoint, h.Interpreter.LastFault!.Vector);
        Assert.Equal(afterInt3, h.Cpu.Rip);
        Assert.Equal(0x1299UL, h.Cpu.Gpr[CpuCore.Rax]);
        Assert.True(h.Cpu.Direction && h.Cpu.Flags.Carry);
        Assert.Equal(0UL, h.Cpu.Rflags & 0x3200);                         // user mode: IF and IOPL unchanged
    }
}
