using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Engines.Emulator.Memory;
using static Sharpvisor.Engines.Emulator.Tests.Memory.PageTableBuilder;

namespace Sharpvisor.Engines.Emulator.Tests.Memory;

public class ConcurrentPagingTests
{
    private const ulong Linear = 0x4000_0000, Frame = 0x20_0000;
    private const int Pages = 8, Accesses = 100_000;
    private const ulong SoftwareBit = 1 << 9; // an AVL bit the guest owns

    /// <summary>
    /// Two vCPUs write the same few pages, dropping the page from their TLBs before every access so every access walks and sets
    /// A and D, while a third thread keeps clearing A and D and toggling a software bit in those entries with
    /// compare-and-exchange, as a guest's page reclaim would. A non-atomic A/D update would write back a stale entry
    /// and lose toggles (the final software bit would have the wrong parity).
    /// </summary>
    [Fact]
    public void AccessedAndDirtyUpdatesLoseNoConcurrentChange()
    {
        using var f = new PagingFixture();
        var ptes = new ulong[Pages];
        for (int i = 0; i < Pages; i++) ptes[i] = f.Tables.Map(Linear + (ulong)i * 0x1000, Frame + (ulong)i * 0x1000, P | W);
        var second = new EmulatedMemory(f.Ram, f.Mmio, IdentityTranslator.Instance, f.Memory.CodePages);
        var cpu1 = new CpuCore(second) { Cr0 = f.Cpu.Cr0, Cr3 = f.Cpu.Cr3, Cr4 = f.Cpu.Cr4, Efer = f.Cpu.Efer };
        second.Translator = new PagingUnit(cpu1);
        var toggles = new int[Pages];
        using var start = new Barrier(3);
        var errors = new List<Exception>();
        int walkersRunning = 2;

        void Walker(EmulatedMemory memory)
        {
            try
            {
                start.SignalAndWait();
                for (int n = 0; n < Accesses; n++)
                {
                    ulong address = Linear + (ulong)(n % Pages) * 0x1000 + 8;
                    memory.Translator.InvalidatePage(address);
                    memory.Write(address, 8, (ulong)n);
                }
            }
            catch (Exception e) { lock (errors) errors.Add(e); }
            finally { Interlocked.Decrement(ref walkersRunning); }
        }

        unsafe void Toggler()
        {
            start.SignalAndWait();
            // Until both walkers are done, so the entries change under every part of their run.
            for (int n = 0; Volatile.Read(ref walkersRunning) > 0; n++)
            {
                int i = n % Pages;
                ulong* entry = EntryPointer(f, ptes[i]);
                ulong seen = Volatile.Read(ref *entry);
                while (Interlocked.CompareExchange(ref *entry, (seen ^ SoftwareBit) & ~(A | D), seen) is var now && now != seen) seen = now;
                toggles[i]++;
            }
        }

        var threads = new[] { new Thread(() => Walker(f.Memory)), new Thread(() => Walker(second)), new Thread(Toggler) };
        foreach (var t in threads) t.Start();
        foreach (var t in threads) t.Join();

        Assert.Empty(errors);
        for (int i = 0; i < Pages; i++)
        {
            ulong pte = f.Tables.Read(ptes[i]);
            Assert.Equal((toggles[i] & 1) != 0, (pte & SoftwareBit) != 0);
            Assert.Equal(Frame + (ulong)i * 0x1000 | P | W, pte & ~(A | D | SoftwareBit));
        }
        for (int level = 4; level >= 2; level--) Assert.True((f.Tables.Read(f.Tables.Entry(Linear, level)) & A) != 0);
    }

    /// <summary>Guest RAM is a native mapping that never moves: a pointer into it stays valid.</summary>
    private static unsafe ulong* EntryPointer(PagingFixture f, ulong physical)
    {
        fixed (byte* p = f.Ram.GetSpan(physical, 8)) return (ulong*)p;
    }
}
