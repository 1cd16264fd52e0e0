using Iced.Intel;
using Sharpvisor.Engines.Emulator.Decoding;
using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Engines.Emulator.Instructions;
using Sharpvisor.Engines.Emulator.Memory;
using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Memory;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.Engines.Emulator.Tests.SystemMode;

/// <summary>LOCK-prefixed instructions and XCHG stay atomic when two cores on two threads share guest RAM.</summary>
public class LockedMemoryOperationTests
{
    private const ulong Counter = 0x8000, SpinLock = 0x8100, Shared = 0x8200;
    private const int Rounds = 100_000;

    private static (CpuCore Cpu, Interpreter Interpreter, ulong End) Core(GuestMemory ram, ulong codeAddress, Action<Assembler> emit)
    {
        var a = new Assembler(64);
        emit(a);
        var stream = new MemoryStream();
        a.Assemble(new StreamCodeWriter(stream), codeAddress);
        ram.Write(codeAddress, stream.ToArray());
        var memory = new EmulatedMemory(ram, new MmioBus(), IdentityTranslator.Instance);
        var cpu = new CpuCore(memory) { Rip = codeAddress };
        return (cpu, new Interpreter(cpu, new BlockCache(memory, InstructionTable.Default)), codeAddress + (ulong)stream.Length);
    }

    private static void RunBoth(params (CpuCore Cpu, Interpreter Interpreter, ulong End)[] cores)
    {
        var threads = cores.Select(c => new Thread(() =>
        {
            while (c.Interpreter.Run(10_000) != StopReason.Halted) { }
        })).ToArray();
        foreach (var t in threads) t.Start();
        foreach (var t in threads) Assert.True(t.Join(TimeSpan.FromMinutes(2)), "a core did not finish");
    }

    // Both cores run the same loop (one copy each), so the only shared state is the guest memory they race on.
    private static void Emit(Assembler a, Action<Assembler> body)
    {
        var loop = a.CreateLabel();
        a.mov(ecx, Rounds);
        a.Label(ref loop);
        body(a);
        a.dec(ecx);
        a.jnz(loop);
        a.hlt();
    }

    [Fact]
    public void LockedAddsFromTwoCoresAreNotLost()
    {
        using var ram = GuestMemory.CreateX86(16 << 20);
        var body = (Assembler a) => { a.@lock.add(__dword_ptr[Counter], 1); a.mov(edx, 1); a.@lock.xadd(__qword_ptr[Counter + 8], rdx); };
        var first = Core(ram, 0x10000, a => { a.mov(edx, 1); Emit(a, body); });
        var second = Core(ram, 0x20000, a => { a.mov(edx, 1); Emit(a, body); });
        RunBoth(first, second);
        Assert.Equal(2u * Rounds, ram.ReadUInt32(Counter));
        Assert.Equal(2UL * Rounds, ram.ReadUInt64(Counter + 8));
    }

    [Fact]
    public void ACompareExchangeSpinLockWithAPlainStoreReleaseKeepsMutualExclusion()
    {
        using var ram = GuestMemory.CreateX86(16 << 20);
        // acquire: lock cmpxchg [lock], 1 until it was 0; critical section: a plain read-increment-write;
        // release: a plain store of 0, as Linux's spin_unlock does. A lost release would hang; a broken lock loses counts.
        var body = (Assembler a) =>
        {
            var retry = a.CreateLabel();
            a.nop();
            a.Label(ref retry);
            a.xor(eax, eax);
            a.@lock.cmpxchg(__dword_ptr[SpinLock], ebx);
            a.jnz(retry);
            a.mov(esi, __dword_ptr[Shared]);
            a.inc(esi);
            a.mov(__dword_ptr[Shared], esi);
            a.mov(__dword_ptr[SpinLock], 0);
        };
        var first = Core(ram, 0x10000, a => { a.mov(ebx, 1); Emit(a, body); });
        var second = Core(ram, 0x20000, a => { a.mov(ebx, 1); Emit(a, body); });
        RunBoth(first, second);
        Assert.Equal(2u * Rounds, ram.ReadUInt32(Shared));
        Assert.Equal(0u, ram.ReadUInt32(SpinLock));
    }

    [Fact]
    public void LockedBitSetWithARegisterOffsetChangesTheWordTheOffsetNames()
    {
        using var h = new EmulatorHarness();
        ulong end = h.Load(a =>
        {
            a.mov(rax, 70);                               // bit 6 of the second qword
            a.mov(rbx, Counter);
            a.@lock.bts(__qword_ptr[rbx], rax);
            a.mov(rdx, -1L);                              // bit 63 of the qword below
            a.@lock.bts(__qword_ptr[rbx], rdx);
            a.xchg(__dword_ptr[rbx + 0x20], ecx);
        });
        h.Cpu.Gpr[CpuCore.Rcx] = 0xABCD;
        h.Cpu.Gpr[8] = 0x77;
        h.Ram.WriteUInt32(Counter + 0x20, 0x1234);
        h.RunTo(end);
        Assert.Equal(1UL << 6, h.Ram.ReadUInt64(Counter + 8));
        Assert.Equal(1UL << 63, h.Ram.ReadUInt64(Counter - 8));
        Assert.Equal(0UL, h.Ram.ReadUInt64(Counter));
        Assert.Equal(0xABCDu, h.Ram.ReadUInt32(Counter + 0x20));
        Assert.Equal(0x1234UL, h.Cpu.Gpr[CpuCore.Rcx]);
        Assert.Equal(0x77UL, h.Cpu.Gpr[8]);   // R8, the scratch register, kept its value
    }
}
