using Sharpvisor.Machine.Devices.Pci;

namespace Sharpvisor.Machine.Tests.Devices.Pci;

public sealed class PciConfigSpaceTests
{
    private readonly PciConfigSpace _config = new(0x1AF4, 0x1041, 0x02_00_00, revisionId: 1,
        subsystemVendorId: 0x1AF4, subsystemId: 0x0001, interruptPin: 1);
    private readonly List<PciBarMappingChange> _changes = [];

    public PciConfigSpaceTests() => _config.BarMappingChanged += _changes.Add;

    [Fact]
    public void HeaderFieldsReadAtEveryWidth()
    {
        Assert.Equal(0x1041_1AF4u, _config.Read(0x00, 4));
        Assert.Equal(0x1AF4u, _config.Read(0x00, 2));
        Assert.Equal(0x10u, _config.Read(0x03, 1));
        Assert.Equal(0x0200_0001u, _config.Read(0x08, 4));       // class 02, subclass 00, prog-if 00, revision 1
        Assert.Equal(0x0200u, _config.Read(0x0A, 2));
        Assert.Equal(0x0001_1AF4u, _config.Read(0x2C, 4));
        Assert.Equal(1u, _config.Read(PciConfigSpace.InterruptPinOffset, 1));
        Assert.Equal(0u, _config.Read(PciConfigSpace.HeaderTypeOffset, 1));
    }

    [Fact]
    public void ReadOnlyFieldsIgnoreGuestWrites()
    {
        _config.Write(0x00, 4, 0xFFFF_FFFF);
        _config.Write(0x08, 4, 0xFFFF_FFFF);
        _config.Write(PciConfigSpace.InterruptPinOffset, 1, 3);
        _config.Write(PciConfigSpace.ExpansionRomOffset, 4, 0xFFFF_FFFF);
        Assert.Equal(0x1041_1AF4u, _config.Read(0x00, 4));
        Assert.Equal(0x0200_0001u, _config.Read(0x08, 4));
        Assert.Equal(1u, _config.Read(PciConfigSpace.InterruptPinOffset, 1));
        Assert.Equal(0u, _config.Read(PciConfigSpace.ExpansionRomOffset, 4));   // no expansion ROM
    }

    [Fact]
    public void CommandRegisterKeepsOnlyItsWritableBits()
    {
        _config.Write(PciConfigSpace.CommandOffset, 2, 0xFFFF);
        Assert.Equal(0x0547u, _config.Read(PciConfigSpace.CommandOffset, 2));
        Assert.True(_config.BusMasterEnabled);
        Assert.True(_config.InterruptDisabled);
        _config.Write(PciConfigSpace.CommandOffset, 1, 0x04);
        Assert.Equal(0x0504u, _config.Read(PciConfigSpace.CommandOffset, 2));
    }

    [Fact]
    public void StatusErrorBitsClearByWritingOne()
    {
        _config.Set(PciConfigSpace.StatusOffset, 2, 0x2000 | 0x1000 | PciConfigSpace.StatusInterrupt);
        _config.Write(PciConfigSpace.StatusOffset, 2, 0x2000 | PciConfigSpace.StatusInterrupt);
        Assert.Equal(0x1000u | PciConfigSpace.StatusInterrupt, _config.Read(PciConfigSpace.StatusOffset, 2));
        // A dword write to the command register with zeros in the status half leaves status alone.
        _config.Write(PciConfigSpace.CommandOffset, 4, PciConfigSpace.CommandMemorySpace);
        Assert.Equal(0x1000u | PciConfigSpace.StatusInterrupt, _config.Read(PciConfigSpace.StatusOffset, 2));
    }

    [Fact]
    public void Memory32BarSizing()
    {
        _config.DefineBar(0, PciBarKind.Memory32, 0x4000, prefetchable: true);
        Assert.Equal(PciConfigSpace.BarPrefetchable, _config.Read(0x10, 4));
        _config.Write(0x10, 4, 0xFFFF_FFFF);
        Assert.Equal(0xFFFF_C008u, _config.Read(0x10, 4));
        _config.Write(0x10, 4, 0xC000_4000);
        Assert.Equal(0xC000_4008u, _config.Read(0x10, 4));
        Assert.Equal(0xC000_4000ul, _config.GetBarAddress(0));
    }

    [Fact]
    public void Memory64BarSizingSpansTwoRegisters()
    {
        _config.DefineBar(2, PciBarKind.Memory64, 8UL << 30, prefetchable: true);
        _config.Write(0x18, 4, 0xFFFF_FFFF);
        _config.Write(0x1C, 4, 0xFFFF_FFFF);
        Assert.Equal(0x0000_000Cu, _config.Read(0x18, 4));
        Assert.Equal(0xFFFF_FFFEu, _config.Read(0x1C, 4));
        _config.Write(0x18, 4, 0);
        _config.Write(0x1C, 4, 0x4);
        Assert.Equal(0x4_0000_0000ul, _config.GetBarAddress(2));
        Assert.Throws<InvalidOperationException>(() => _config.DefineBar(3, PciBarKind.Memory32, 0x1000));
    }

    [Fact]
    public void IoBarSizing()
    {
        _config.DefineBar(1, PciBarKind.Io, 0x20);
        Assert.Equal(PciConfigSpace.BarIoSpace, _config.Read(0x14, 4));
        _config.Write(0x14, 4, 0xFFFF_FFFF);
        Assert.Equal(0xFFFF_FFE1u, _config.Read(0x14, 4));
        _config.Write(0x14, 4, 0xC040);
        Assert.Equal(0xC041u, _config.Read(0x14, 4));
    }

    [Fact]
    public void UndefinedBarsReadZeroEvenAfterWritingOnes()
    {
        for (int offset = 0x10; offset < 0x28; offset += 4)
        {
            _config.Write(offset, 4, 0xFFFF_FFFF);
            Assert.Equal(0u, _config.Read(offset, 4));
        }
        Assert.Empty(_changes);
    }

    [Fact]
    public void MappingEventsFollowDecodeEnableAndAddress()
    {
        _config.DefineBar(0, PciBarKind.Memory32, 0x1000);
        _config.Write(0x10, 4, 0xC000_0000);
        Assert.Empty(_changes);                                          // decode off
        _config.Write(PciConfigSpace.CommandOffset, 2, PciConfigSpace.CommandMemorySpace);
        Assert.Equal([new PciBarMappingChange(0, PciBarKind.Memory32, 0x1000, null, 0xC000_0000)], _changes);
        Assert.True(_config.TryGetBarMapping(0, out ulong at));
        Assert.Equal(0xC000_0000ul, at);
        _config.Write(0x10, 4, 0xC001_0000);
        Assert.Equal(new PciBarMappingChange(0, PciBarKind.Memory32, 0x1000, 0xC000_0000, 0xC001_0000), _changes[^1]);
        _config.Write(0x10, 4, 0xC001_0000);
        Assert.Equal(2, _changes.Count);                                 // same address: no event
        _config.Write(PciConfigSpace.CommandOffset, 2, PciConfigSpace.CommandIoSpace);
        Assert.Equal(new PciBarMappingChange(0, PciBarKind.Memory32, 0x1000, 0xC001_0000, null), _changes[^1]);
        Assert.False(_config.TryGetBarMapping(0, out _));
    }

    [Fact]
    public void SizingWithDecodeOffRaisesNoEvents()
    {
        _config.DefineBar(0, PciBarKind.Memory32, 0x1000);
        _config.DefineBar(1, PciBarKind.Io, 0x40);
        _config.Write(0x10, 4, 0xC000_0000);
        _config.Write(0x14, 4, 0x6000);
        // Linux: clear decode, size every BAR, restore, set decode.
        _config.Write(PciConfigSpace.CommandOffset, 2, 0);
        foreach (int offset in new[] { 0x10, 0x14 })
        {
            uint original = _config.Read(offset, 4);
            _config.Write(offset, 4, 0xFFFF_FFFF);
            _config.Read(offset, 4);
            _config.Write(offset, 4, original);
        }
        Assert.Empty(_changes);
        _config.Write(PciConfigSpace.CommandOffset, 2, PciConfigSpace.CommandMemorySpace | PciConfigSpace.CommandIoSpace);
        Assert.Equal(
            [
                new PciBarMappingChange(0, PciBarKind.Memory32, 0x1000, null, 0xC000_0000),
                new PciBarMappingChange(1, PciBarKind.Io, 0x40, null, 0x6000),
            ], _changes);
    }

    [Fact]
    public void SizingPatternWithDecodeOnUnmapsUntilTheAddressReturns()
    {
        _config.DefineBar(0, PciBarKind.Memory32, 0x1000);
        _config.Write(0x10, 4, 0xC000_0000);
        _config.Write(PciConfigSpace.CommandOffset, 2, PciConfigSpace.CommandMemorySpace);
        _config.Write(0x10, 4, 0xFFFF_FFFF);
        Assert.Equal(new PciBarMappingChange(0, PciBarKind.Memory32, 0x1000, 0xC000_0000, null), _changes[^1]);
        _config.Write(0x10, 4, 0xC000_0000);
        Assert.Equal(new PciBarMappingChange(0, PciBarKind.Memory32, 0x1000, null, 0xC000_0000), _changes[^1]);
    }

    [Fact]
    public void IoBarsOnlyDecodeWithIoSpaceAndBelow64K()
    {
        _config.DefineBar(4, PciBarKind.Io, 0x100);
        _config.Write(0x20, 4, 0x1_0000);                                // beyond the x86 port space
        _config.Write(PciConfigSpace.CommandOffset, 2, PciConfigSpace.CommandIoSpace | PciConfigSpace.CommandMemorySpace);
        Assert.Empty(_changes);
        _config.Write(0x20, 4, 0xFF00);                                  // the very last 256 ports fit
        Assert.Equal([new PciBarMappingChange(4, PciBarKind.Io, 0x100, null, 0xFF00)], _changes);
        _config.Write(PciConfigSpace.CommandOffset, 2, PciConfigSpace.CommandMemorySpace);
        Assert.Equal(new PciBarMappingChange(4, PciBarKind.Io, 0x100, 0xFF00, null), _changes[^1]);
    }

    [Fact]
    public void Memory64BarMapsAbove4GiB()
    {
        _config.DefineBar(0, PciBarKind.Memory64, 0x10_0000);
        _config.Write(PciConfigSpace.CommandOffset, 2, PciConfigSpace.CommandMemorySpace);
        _config.Write(0x10, 4, 0xE000_0000);
        _config.Write(0x14, 4, 0x8);
        Assert.Equal(
            [
                new PciBarMappingChange(0, PciBarKind.Memory64, 0x10_0000, null, 0xE000_0000),
                new PciBarMappingChange(0, PciBarKind.Memory64, 0x10_0000, 0xE000_0000, 0x8_E000_0000),
            ], _changes);
    }

    [Fact]
    public void CapabilitiesFormALinkedList()
    {
        Assert.Equal(-1, _config.FindCapability(0x09));
        int first = _config.AddCapability(0x09, [0x10, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13]);
        int second = _config.AddCapability(0x11, [0x00, 0x00, 0x01, 0, 0, 0, 0x02, 0, 0, 0],
            writableMask: [0x00, 0xC0, 0, 0, 0, 0, 0, 0, 0, 0]);
        Assert.Equal(0x40, first);
        Assert.Equal(0x50, second);                                      // 16 bytes, so the next starts at 0x50
        Assert.Equal(PciConfigSpace.StatusCapabilitiesList, _config.Read(PciConfigSpace.StatusOffset, 2) & PciConfigSpace.StatusCapabilitiesList);
        Assert.Equal(0x40u, _config.Read(PciConfigSpace.CapabilitiesPointerOffset, 1));
        Assert.Equal(0x5009u, _config.Read(0x40, 2));                    // ID 0x09, next 0x50
        Assert.Equal(0x0011u, _config.Read(0x50, 2));                    // ID 0x11, end of list
        Assert.Equal(0x10u, _config.Read(0x42, 1));
        Assert.Equal(second, _config.FindCapability(0x11));
        Assert.Equal(first, _config.FindCapability(0x09));
        Assert.Equal(-1, _config.FindCapability(0x05));
        // The mask applies: only bits 15:14 of the MSI-X message control word are writable; ID and next are not.
        _config.Write(0x50, 4, 0xFFFF_FFFF);
        Assert.Equal(0xC000_0011u, _config.Read(0x50, 4));
    }

    [Fact]
    public void CapabilitySpaceRunsOut()
    {
        _config.AddCapability(0x09, new byte[180]);
        Assert.Throws<InvalidOperationException>(() => _config.AddCapability(0x09, new byte[32]));
    }

    [Fact]
    public void BarDefinitionsAreChecked()
    {
        Assert.Throws<ArgumentException>(() => _config.DefineBar(0, PciBarKind.Memory32, 0x3000));
        Assert.Throws<ArgumentOutOfRangeException>(() => _config.DefineBar(5, PciBarKind.Memory64, 0x1000));
        Assert.Throws<ArgumentOutOfRangeException>(() => _config.DefineBar(0, PciBarKind.Io, 0x200));
        Assert.Throws<ArgumentOutOfRangeException>(() => _config.DefineBar(0, PciBarKind.Memory32, 8));
        Assert.Throws<ArgumentException>(() => _config.DefineBar(0, PciBarKind.Io, 0x10, prefetchable: true));
        _config.DefineBar(0, PciBarKind.Memory64, 0x1000);
        Assert.Throws<InvalidOperationException>(() => _config.DefineBar(1, PciBarKind.Io, 0x10));
    }

    [Fact]
    public void MalformedAccessesReadOnesAndWriteNothing()
    {
        Assert.Equal(uint.MaxValue, _config.Read(0xFE, 4));
        Assert.Equal(uint.MaxValue, _config.Read(-1, 1));
        Assert.Equal(uint.MaxValue, _config.Read(0x00, 3));
        _config.Write(PciConfigSpace.InterruptLineOffset, 3, 0xFFFFFF);
        _config.Write(0x100, 1, 0xFF);
        Assert.Equal(0u, _config.Read(PciConfigSpace.InterruptLineOffset, 1));
    }

    [Fact]
    public void InterruptLineAndCacheLineAreScratchForTheGuest()
    {
        _config.Write(PciConfigSpace.InterruptLineOffset, 1, 11);
        _config.Write(PciConfigSpace.CacheLineSizeOffset, 1, 16);
        Assert.Equal(11u, _config.Read(PciConfigSpace.InterruptLineOffset, 1));
        Assert.Equal(16u, _config.Read(PciConfigSpace.CacheLineSizeOffset, 1));
    }

    [Fact]
    public void RestoredStateReportsTheWindowsItMaps()
    {
        _config.DefineBar(0, PciBarKind.Memory32, 0x1000);
        _config.Write(0x10, 4, 0xC000_0000);
        _config.Write(PciConfigSpace.CommandOffset, 2, PciConfigSpace.CommandMemorySpace);
        var state = _config.SaveState();

        var copy = new PciConfigSpace(0x1AF4, 0x1041, 0x02_00_00);
        copy.DefineBar(0, PciBarKind.Memory32, 0x1000);
        var copied = new List<PciBarMappingChange>();
        copy.BarMappingChanged += copied.Add;
        copy.RestoreState(state);
        Assert.Equal([new PciBarMappingChange(0, PciBarKind.Memory32, 0x1000, null, 0xC000_0000)], copied);
        Assert.Equal(state.Data, copy.SaveState().Data);
        Assert.Throws<ArgumentException>(() => copy.RestoreState(new PciConfigSpaceState { Data = new byte[12] }));
    }
}
