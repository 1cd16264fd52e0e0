using Sharpvisor.Machine.Devices.Pci;

namespace Sharpvisor.Machine.Tests.Devices.Pci;

public sealed class PciBarAllocatorTests
{
    [Fact]
    public void Allocations_are_naturally_aligned_disjoint_and_inside_the_window()
    {
        var allocator = new PciBarAllocator(0xC000_0000, 0xC010_0000);
        ulong a = allocator.Allocate(0x1000);
        ulong b = allocator.Allocate(0x4000);
        ulong c = allocator.Allocate(0x1000);
        Assert.Equal(0xC000_0000UL, a);
        Assert.Equal(0xC000_4000UL, b);                             // aligned up past a
        Assert.Equal(0xC000_8000UL, c);
        Assert.Throws<InvalidOperationException>(() => allocator.Allocate(0x100_0000));
        Assert.Throws<ArgumentException>(() => allocator.Allocate(0x3000));
    }

    [Fact]
    public void Assigning_a_BAR_programs_it_and_turns_memory_decoding_on()
    {
        var allocator = new PciBarAllocator(0xC000_0000, 0xFEC0_0000);
        var config = new PciConfigSpace(0x1AF4, 0x1041, 0x02_00_00);
        var changes = new List<PciBarMappingChange>();
        config.BarMappingChanged += changes.Add;
        ulong address = allocator.AssignMemoryBar(config, 2, 0x2000);
        Assert.Equal(address, config.GetBarAddress(2));
        Assert.True(config.TryGetBarMapping(2, out ulong mapped));
        Assert.Equal(address, mapped);
        Assert.NotEqual(0, config.Command & PciConfigSpace.CommandMemorySpace);
        Assert.Equal([new PciBarMappingChange(2, PciBarKind.Memory32, 0x2000, null, address)], changes);
    }

    [Fact]
    public void Interrupt_routing_rotates_pins_over_four_GSIs()
    {
        Assert.Equal(16u, PciInterruptRouting.GsiFor(0, 1));
        Assert.Equal(17u, PciInterruptRouting.GsiFor(1, 1));
        Assert.Equal(16u, PciInterruptRouting.GsiFor(3, 2));
        Assert.Equal(19u, PciInterruptRouting.GsiFor(31, 1));
        Assert.Throws<ArgumentOutOfRangeException>(() => PciInterruptRouting.GsiFor(1, 0));
    }
}
