using Sharpvisor.Engines.Emulator.Decoding;
using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Engines.Emulator.Instructions;
using Sharpvisor.Engines.Emulator.Memory;
using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Memory;
using static Sharpvisor.Engines.Emulator.Tests.Memory.PageTableBuilder;

namespace Sharpvisor.Engines.Emulator.Tests.Memory;

public class EmulatedMemoryTests
{
    [Fact]
    public void AStoreToACodePageIsReportedOnTheFastPathToo()
    {
        using var ram = GuestMemory.CreateX86(16 << 20);
        var memory = new EmulatedMemory(ram, new MmioBus(), IdentityTranslator.Instance);
        var written = new List<ulong>();
        memory.CodePages.CodePageWritten += written.Add;
        memory.Write(0x5010, 8, 1); // fills the TLB with write rights
        Assert.Empty(written);
        memory.CodePages.MarkCode(5);
        memory.Write(0x5018, 8, 2); // a TLB hit
        Assert.Equal([5UL], written);
        Assert.False(memory.CodePages.IsCode(5));
        memory.Write(0x5020, 8, 3);
        Assert.Single(written); // reported once per decode
        Assert.Equal(2UL, ram.ReadUInt64(0x5018));
    }

    [Fact]
    public void AStoreThroughASecondLinearAliasInvalidatesTheCodePage()
    {
        using var f = new PagingFixture();
        const ulong code = 0x40_0000, alias = 0x80_0000, frame = 0x20_0000;
        f.Tables.Map(code, frame, P | W);
        f.Tables.Map(alias, frame, P | W);
        var written = new List<ulong>();
        f.Memory.CodePages.CodePageWritten += written.Add;
        f.Memory.Write(alias + 0x100, 8, 0); // warm the alias's write translation
        f.Memory.CodePages.MarkCode(frame >> 12);
        f.Memory.Write(alias + 0x108, 4, 0x90);
        Assert.Equal([frame >> 12], written);
    }

    [Fact]
    public void CodeRewrittenThroughAnAliasRunsRewritten()
    {
        using var f = new PagingFixture();
        const ulong code = 0x40_0000, alias = 0x80_0000, frame = 0x20_0000;
        f.Tables.Map(code, frame, P | W);
        f.Tables.Map(alias, frame, P | W);
        // 0x000: mov byte [alias + 0x101], 0x42   (the immediate of the mov at 0x100)
        // 0x008: jmp 0x100
        // 0x100: mov eax, 0x11 ; nop
        f.Ram.Write(frame, [0xC6, 0x04, 0x25, 0x01, 0x01, 0x80, 0x00, 0x42, 0xE9, 0xF3, 0x00, 0x00, 0x00]);
        f.Ram.Write(frame + 0x100, [0xB8, 0x11, 0x00, 0x00, 0x00, 0x90]);
        var interpreter = new Interpreter(f.Cpu, new BlockCache(f.Memory, InstructionTable.Default));

        f.Cpu.Rip = code + 0x100; // decode and run the block at 0x100 once, before the store
        Assert.Equal(StopReason.BudgetExhausted, interpreter.Run(2));
        Assert.Equal(0x11UL, f.Cpu.Gpr[CpuCore.Rax]);

        f.Cpu.Rip = code;
        while (f.Cpu.Rip != code + 0x106) Assert.Equal(StopReason.BudgetExhausted, interpreter.Run(1));
        Assert.Equal(0x42UL, f.Cpu.Gpr[CpuCore.Rax]);
        Assert.True(interpreter.Blocks.Invalidations > 0);
    }

    [Fact]
    public void AStoreOnOneVcpuReachesTheCodePagesOfAnother()
    {
        using var ram = GuestMemory.CreateX86(16 << 20);
        var tracker = new CodePageTracker(16 << 20);
        var mmio = new MmioBus();
        var vcpu0 = new EmulatedMemory(ram, mmio, IdentityTranslator.Instance, tracker);
        var vcpu1 = new EmulatedMemory(ram, mmio, IdentityTranslator.Instance, tracker);
        var written = new List<ulong>();
        vcpu0.CodePages.CodePageWritten += written.Add;
        vcpu0.CodePages.MarkCode(7);
        vcpu1.Write(0x7008, 2, 0xFFFF);
        Assert.Equal([7UL], written);
        Assert.Same(vcpu0.CodePages, vcpu1.CodePages);
    }

    [Fact]
    public void ASharedTrackerMustCoverAllOfRam()
    {
        using var ram = GuestMemory.CreateX86(16 << 20);
        Assert.Throws<ArgumentException>(() => new EmulatedMemory(ram, new MmioBus(), IdentityTranslator.Instance, new CodePageTracker(1 << 20)));
    }

    [Fact]
    public void ALocalDeviceShadowsRamForItsCpuOnlyAndMoves()
    {
        using var ram = GuestMemory.CreateX86(16 << 20);
        var mmio = new MmioBus();
        var mine = new EmulatedMemory(ram, mmio, IdentityTranslator.Instance);
        var other = new EmulatedMemory(ram, mmio, IdentityTranslator.Instance);
        var apic = new RecordingDevice(0x5A);
        ram.WriteUInt32(0x3020, 0x1234_5678);
        Assert.Equal(0x1234_5678UL, mine.Read(0x3020, 4)); // the TLB now holds the RAM page

        mine.MapLocalDevice(0x3000, 0x1000, apic);
        Assert.Equal(0x5A5A_5A5AUL, mine.Read(0x3020, 4));
        Assert.Equal([0x20UL], apic.Reads);
        mine.Write(0x30B0, 4, 0); // the EOI register, say
        Assert.Equal(0xB0UL, Assert.Single(apic.Writes).Offset);
        Assert.Equal(0x1234_5678UL, ram.ReadUInt32(0x3020));
        Assert.Equal(0x1234_5678UL, other.Read(0x3020, 4));

        mine.MapLocalDevice(0x8000, 0x1000, apic); // IA32_APIC_BASE moved it
        Assert.Equal(0x8000UL, mine.LocalDeviceBase(apic));
        Assert.Equal(0x1234_5678UL, mine.Read(0x3020, 4));
        Assert.Equal(0x5A5AUL, mine.Read(0x8300, 2));
        Assert.Equal(0x300UL, apic.Reads[^1]);

        mine.UnmapLocalDevice(apic);
        Assert.Null(mine.LocalDeviceBase(apic));
        Assert.Equal(0UL, mine.Read(0x8300, 2));
    }

    [Fact]
    public void ALocalDeviceIsReachedThroughPaging()
    {
        using var f = new PagingFixture();
        const ulong apicBase = 0xFEE0_0000, linear = 0xFFFF_FFFF_FF5F_C000;
        f.Tables.Map(linear, apicBase, P | W | XD);
        var apic = new RecordingDevice(0x11);
        f.Memory.MapLocalDevice(apicBase, 0x1000, apic);
        Assert.Equal(0x1111_1111UL, f.Memory.Read(linear + 0x30, 4));
        f.Memory.Write(linear + 0xB0, 4, 0);
        f.Memory.Write(linear + 0xB0, 4, 0);
        Assert.Equal([0x30UL], apic.Reads);
        Assert.Equal(2, apic.Writes.Count);
        Assert.All(apic.Writes, w => Assert.Equal(0xB0UL, w.Offset));
    }

    [Fact]
    public void OverlappingLocalDevicesAreRefused()
    {
        using var ram = GuestMemory.CreateX86(16 << 20);
        var memory = new EmulatedMemory(ram, new MmioBus(), IdentityTranslator.Instance);
        memory.MapLocalDevice(0xFEE0_0000, 0x1000, new RecordingDevice(0));
        Assert.Throws<BusRangeConflictException>(() => memory.MapLocalDevice(0xFEE0_0800, 0x1000, new RecordingDevice(0)));
    }

    [Fact]
    public void PhysicalAddressesOutsideRamGoToTheMmioBus()
    {
        using var f = new PagingFixture();
        const ulong linear = 0x7000_0000, deviceBase = 0xD000_0000;
        var device = new RecordingDevice(0x77);
        f.Mmio.Register(deviceBase, 0x1000, device);
        f.Tables.Map(linear, deviceBase, P | W);
        Assert.Equal(0x7777UL, f.Memory.Read(linear + 0x40, 2));
        Assert.Equal(0x7777UL, f.Memory.Read(linear + 0x40, 2));
        f.Memory.Write(linear + 0x44, 8, 3);
        Assert.Equal([0x40UL, 0x40UL], device.Reads);
        Assert.Equal(0x44UL, Assert.Single(device.Writes).Offset);
        Assert.Equal(2, f.Paging.Walks); // the second read hit the TLB; the write walked to set D
    }
}
