using Sharpvisor.Engines.Emulator.Memory;
using Sharpvisor.Machine.Boot;
using Sharpvisor.Machine.Memory;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.Engines.Emulator.Tests.Lifecycle;

public sealed class EmulatorDirtyLogTests
{
    private const ulong Progress = 0x5000, Written = 0x200000, ReadOnly = 0x300000, Looping = 0x400000;

    private static DirtyPageBitmap Collect(EmulatorVirtualMachine vm, GuestMemory memory)
    {
        var region = memory.Regions[0];
        var bitmap = new DirtyPageBitmap(region.Size / 4096);
        vm.CollectDirtyPages(region, bitmap);
        return bitmap;
    }

    private static ulong[] DirtyPages(DirtyPageBitmap bitmap) =>
        Enumerable.Range(0, (int)bitmap.PageCount).Where(p => bitmap.IsDirty((ulong)p)).Select(p => (ulong)p).ToArray();

    [Fact]
    public void Logs_exactly_the_pages_written_including_page_table_updates()
    {
        using var vm = new LongModeVm(a =>
        {
            a.mov(rcx, 0x1234);
            for (int i = 0; i < 8; i++) a.mov(__qword_ptr[Written + (ulong)i * 4096 + 8], rcx);
            a.mov(rax, __qword_ptr[ReadOnly]);                  // a read: not a write
            a.mov(__qword_ptr[Progress], 1);
            var self = a.CreateLabel();
            a.Label(ref self);
            a.pause();
            a.jmp(self);
        });
        vm.Vm.SetDirtyLogging(true);
        vm.Start();
        vm.WaitFor(Progress, 1);
        var dirty = DirtyPages(Collect(vm.Vm, vm.Memory));
        vm.Stop();

        var expected = Enumerable.Range(0, 8).Select(i => (Written >> 12) + (ulong)i).Append(Progress >> 12).ToList();
        foreach (ulong page in expected) Assert.Contains(page, dirty);
        Assert.DoesNotContain(ReadOnly >> 12, dirty);
        Assert.DoesNotContain(LongModeVm.CodeAddress >> 12, dirty);
        // The walk set Accessed in the PML4 and PDPT entries and Accessed and Dirty in the 2 MiB entries of the first
        // page directory: stores to guest RAM the log must see.
        expected.AddRange([IdentityPageTables.Pml4Address >> 12, IdentityPageTables.PdptAddress >> 12, IdentityPageTables.FirstPageDirectoryAddress >> 12]);
        // Nothing else: the stack is untouched (no calls), and no stray marks.
        Assert.Equal(expected.Order(), dirty);

        // A second collection with the guest idle finds nothing.
        Assert.Empty(DirtyPages(Collect(vm.Vm, vm.Memory)));
    }

    [Fact]
    public void A_running_guest_is_logged_again_after_each_collection_and_after_logging_starts_late()
    {
        // Stores to four pages round and round, forever, bumping a counter at Progress after each round.
        using var vm = new LongModeVm(a =>
        {
            var loop = a.CreateLabel();
            a.xor(ecx, ecx);
            a.Label(ref loop);
            for (int i = 0; i < 4; i++) a.mov(__qword_ptr[Looping + (ulong)i * 4096], rcx);
            a.inc(rcx);
            a.mov(__qword_ptr[Progress], rcx);
            a.jmp(loop);
        });
        // Logging off first: the TLB fills with write rights and no marks.
        vm.Start();
        vm.WaitFor(Progress, 1000);
        vm.Vm.SetDirtyLogging(true);
        for (int round = 0; round < 5; round++)
        {
            ulong seen = vm.Memory.ReadUInt64(Progress);
            vm.WaitFor(Progress, seen + 1000);
            var dirty = DirtyPages(Collect(vm.Vm, vm.Memory));
            for (int i = 0; i < 4; i++) Assert.Contains((Looping >> 12) + (ulong)i, dirty);
            Assert.Contains(Progress >> 12, dirty);
            Assert.DoesNotContain(LongModeVm.CodeAddress >> 12, dirty);
        }
        vm.Stop();
        // Stopped: whatever the last slice wrote after the last collection is in this one, then nothing.
        Collect(vm.Vm, vm.Memory);
        Assert.Empty(DirtyPages(Collect(vm.Vm, vm.Memory)));
        vm.Vm.SetDirtyLogging(false);
        Assert.Throws<InvalidOperationException>(() => Collect(vm.Vm, vm.Memory));
    }

    [Fact]
    public void Taking_a_region_reads_its_pages_from_its_own_base()
    {
        using var memory = GuestMemory.CreateX86(3UL << 30 | 64 << 20);   // 3 GiB below the hole, 64 MiB above 4 GiB
        var high = memory.Regions[1];
        var log = new DirtyPageLog(high.End) { Enabled = true };
        log.NoteWrite(high.GuestPhysicalAddress + 5 * 4096 + 4090, 8); // crosses into page 6
        log.MarkPage(0x1000);
        var bitmap = new DirtyPageBitmap(high.Size / 4096);
        log.TakeRegion(high, bitmap);
        Assert.Equal([5UL, 6UL], DirtyPages(bitmap));
        Assert.False(log.IsDirty(high.GuestPhysicalAddress + 5 * 4096));
        Assert.True(log.IsDirty(0x1000));
    }
}
