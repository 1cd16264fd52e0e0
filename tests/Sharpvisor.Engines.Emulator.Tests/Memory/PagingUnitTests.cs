using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Engines.Emulator.Memory;
using Sharpvisor.Machine.Cpu;
using static Sharpvisor.Engines.Emulator.Tests.Memory.PageTableBuilder;

namespace Sharpvisor.Engines.Emulator.Tests.Memory;

public class PagingUnitTests
{
    private const ulong Page = 0x4000_1000, Frame = 0x20_0000;

    [Fact]
    public void A4KiBPageTranslatesAndReadsAndWritesItsFrame()
    {
        using var f = new PagingFixture();
        f.Tables.Map(Page, Frame, P | W);
        f.Ram.WriteUInt64(Frame + 0x123, 0x1122_3344_5566_7788);

        Assert.Equal(Frame + 0x123, f.Paging.Translate(Page + 0x123, AccessKind.Read));
        Assert.Equal(0x1122_3344_5566_7788UL, f.Memory.Read(Page + 0x123, 8));
        Assert.Equal(0x7788UL, f.Memory.Read(Page + 0x123, 2));
        f.Memory.Write(Page + 0x800, 4, 0xCAFE_F00D);
        Assert.Equal(0xCAFE_F00DU, f.Ram.ReadUInt32(Frame + 0x800));
    }

    [Fact]
    public void AReadSetsAccessedOnEveryLevelAndAWriteSetsDirtyOnTheLeafOnly()
    {
        using var f = new PagingFixture();
        f.Tables.Map(Page, Frame, P | W);
        f.Memory.Read(Page, 8);
        for (int level = 4; level >= 1; level--)
        {
            Assert.True((f.Tables.Read(f.Tables.Entry(Page, level)) & A) != 0, $"A at level {level}");
            Assert.True((f.Tables.Read(f.Tables.Entry(Page, level)) & D) == 0, $"no D at level {level} after a read");
        }
        f.Memory.Write(Page, 8, 1);
        Assert.True((f.Tables.Read(f.Tables.Entry(Page, 1)) & D) != 0);
        for (int level = 4; level >= 2; level--) Assert.True((f.Tables.Read(f.Tables.Entry(Page, level)) & D) == 0);
    }

    [Theory]
    [InlineData(AccessKind.Read, 0, 0x0u)]
    [InlineData(AccessKind.Write, 0, 0x2u)]
    [InlineData(AccessKind.Execute, 0, 0x10u)]
    [InlineData(AccessKind.Read, 3, 0x4u)]
    [InlineData(AccessKind.Write, 3, 0x6u)]
    [InlineData(AccessKind.Execute, 3, 0x14u)]
    [InlineData(AccessKind.SystemStructureRead, 3, 0x0u)]
    [InlineData(AccessKind.SystemStructureWrite, 3, 0x2u)]
    public void ANotPresentPageFaultsWithTheAccessInTheErrorCode(AccessKind kind, int cpl, uint errorCode)
    {
        using var f = new PagingFixture();
        f.Tables.Map(Page, Frame, P | W | U);
        f.Tables.ClearBits(f.Tables.Entry(Page, 1), P);
        f.Cpu.Cpl = cpl;
        var fault = PagingFixture.PageFault(() => f.Paging.Translate(Page + 0x10, kind));
        Assert.Equal(errorCode, fault.ErrorCode);
        Assert.Equal(Page + 0x10, fault.FaultAddress);
    }

    [Theory]
    [InlineData(4)]
    [InlineData(3)]
    [InlineData(2)]
    [InlineData(1)]
    public void ANotPresentEntryAtAnyLevelFaults(int level)
    {
        using var f = new PagingFixture();
        f.Tables.Map(Page, Frame, P | W);
        f.Tables.ClearBits(f.Tables.Entry(Page, level), P);
        var fault = PagingFixture.PageFault(() => f.Memory.Write(Page + 8, 8, 5));
        Assert.Equal(2u, fault.ErrorCode);
        Assert.Equal(Page + 8, fault.FaultAddress);
    }

    [Fact]
    public void FetchesFromANotPresentPageReportNoInstructionFetchBitWithoutNxeOrSmep()
    {
        using var f = new PagingFixture();
        f.Cpu.Efer &= ~PagingFixture.EferNxe;
        Assert.Equal(0u, PagingFixture.PageFault(() => f.Paging.Translate(Page, AccessKind.Execute)).ErrorCode);
        f.Cpu.Cr4 |= PagingFixture.Cr4Smep;
        Assert.Equal(0x10u, PagingFixture.PageFault(() => f.Paging.Translate(Page, AccessKind.Execute)).ErrorCode);
    }

    [Fact]
    public void UserAccessesToASupervisorPageFaultWithPresentAndUser()
    {
        using var f = new PagingFixture();
        f.Tables.Map(Page, Frame, P | W);
        f.Cpu.Cpl = 3;
        Assert.Equal(5u, PagingFixture.PageFault(() => f.Memory.Read(Page, 8)).ErrorCode);
        Assert.Equal(7u, PagingFixture.PageFault(() => f.Memory.Write(Page, 8, 0)).ErrorCode);
        Assert.Equal(0x15u, PagingFixture.PageFault(() => f.Paging.Translate(Page, AccessKind.Execute)).ErrorCode);
    }

    [Fact]
    public void AnUpperLevelWithoutUserDeniesUserAccessToAUserLeaf()
    {
        using var f = new PagingFixture();
        f.Tables.Map(Page, Frame, P | W | U);
        f.Tables.ClearBits(f.Tables.Entry(Page, 2), U);
        f.Cpu.Cpl = 3;
        Assert.Equal(5u, PagingFixture.PageFault(() => f.Memory.Read(Page, 8)).ErrorCode);
        f.Cpu.Cpl = 0;
        Assert.Equal(0UL, f.Memory.Read(Page, 8));
    }

    [Fact]
    public void ImplicitSupervisorAccessesAtCpl3ReachSupervisorPages()
    {
        using var f = new PagingFixture();
        f.Tables.Map(Page, Frame, P | W);
        f.Ram.WriteUInt64(Frame, 0xDE5C);
        f.Cpu.Cpl = 3;
        Assert.Equal(0xDE5CUL, f.Memory.Read(Page, 8, AccessKind.SystemStructureRead));
        f.Memory.Write(Page + 8, 8, 0xF00, AccessKind.SystemStructureWrite);
        Assert.Equal(0xF00UL, f.Ram.ReadUInt64(Frame + 8));
        var bytes = new byte[16];
        f.Memory.ReadBytes(Page, bytes, AccessKind.SystemStructureRead);
        Assert.Equal(0xDE5CUL, BitConverter.ToUInt64(bytes));
        // The same page read as an ordinary CPL-3 access still faults, though the supervisor translation is cached.
        Assert.Equal(5u, PagingFixture.PageFault(() => f.Memory.Read(Page, 8)).ErrorCode);
    }

    [Fact]
    public void AnImplicitSupervisorWriteStillHonoursWriteProtect()
    {
        using var f = new PagingFixture();
        f.Tables.Map(Page, Frame, P);
        f.Cpu.Cpl = 3;
        Assert.Equal(3u, PagingFixture.PageFault(() => f.Memory.Write(Page, 8, 1, AccessKind.SystemStructureWrite)).ErrorCode);
    }

    [Fact]
    public void SupervisorWritesToReadOnlyPagesFaultWithWriteProtectAndSucceedWithout()
    {
        using var f = new PagingFixture();
        f.Tables.Map(Page, Frame, P | U);
        Assert.Equal(3u, PagingFixture.PageFault(() => f.Memory.Write(Page, 8, 1)).ErrorCode);
        Assert.Equal(0UL, f.Ram.ReadUInt64(Frame));

        f.Cpu.Cr0 &= ~PagingFixture.Cr0Wp;
        f.Paging.Flush(includeGlobal: true);
        f.Memory.Write(Page, 8, 0x77);
        Assert.Equal(0x77UL, f.Ram.ReadUInt64(Frame));
        Assert.True((f.Tables.Read(f.Tables.Entry(Page, 1)) & D) != 0);
        // WP does not apply to user accesses.
        f.Cpu.Cpl = 3;
        Assert.Equal(7u, PagingFixture.PageFault(() => f.Memory.Write(Page, 8, 1)).ErrorCode);
    }

    [Fact]
    public void AReadOnlyUpperLevelMakesTheWholeRangeReadOnly()
    {
        using var f = new PagingFixture();
        f.Tables.Map(Page, Frame, P | W);
        f.Tables.ClearBits(f.Tables.Entry(Page, 3), W);
        Assert.Equal(0UL, f.Memory.Read(Page, 8));
        Assert.Equal(3u, PagingFixture.PageFault(() => f.Memory.Write(Page, 8, 1)).ErrorCode);
    }

    [Fact]
    public void ExecuteDisableBlocksFetchesButNotReads()
    {
        using var f = new PagingFixture();
        f.Tables.Map(Page, Frame, P | W | U | XD);
        Assert.Equal(0UL, f.Memory.Read(Page, 8));
        Assert.Equal(0x11u, PagingFixture.PageFault(() => f.Paging.Translate(Page, AccessKind.Execute)).ErrorCode);
        f.Cpu.Cpl = 3;
        Assert.Equal(0x15u, PagingFixture.PageFault(() => f.Paging.Translate(Page, AccessKind.Execute)).ErrorCode);
    }

    [Fact]
    public void ExecuteDisableInAnUpperLevelBlocksFetches()
    {
        using var f = new PagingFixture();
        f.Tables.Map(Page, Frame, P | W);
        f.Tables.SetBits(f.Tables.Entry(Page, 4), XD);
        Assert.Equal(0x11u, PagingFixture.PageFault(() => f.Paging.Translate(Page, AccessKind.Execute)).ErrorCode);
        f.Tables.ClearBits(f.Tables.Entry(Page, 4), XD);
        Assert.Equal(Frame, f.Paging.Translate(Page, AccessKind.Execute));
    }

    [Fact]
    public void TheExecuteDisableBitIsReservedWithoutNxe()
    {
        using var f = new PagingFixture();
        f.Cpu.Efer &= ~PagingFixture.EferNxe;
        f.Tables.Map(Page, Frame, P | W | XD);
        Assert.Equal(9u, PagingFixture.PageFault(() => f.Memory.Read(Page, 8)).ErrorCode);
        Assert.Equal(0x9u, PagingFixture.PageFault(() => f.Paging.Translate(Page, AccessKind.Execute)).ErrorCode);
    }

    [Fact]
    public void SmepBlocksSupervisorFetchesFromUserPages()
    {
        using var f = new PagingFixture();
        f.Tables.Map(Page, Frame, P | W | U);
        Assert.Equal(Frame, f.Paging.Translate(Page, AccessKind.Execute));
        f.Cpu.Cr4 |= PagingFixture.Cr4Smep;
        f.Paging.Flush(includeGlobal: true);
        Assert.Equal(0x11u, PagingFixture.PageFault(() => f.Paging.Translate(Page, AccessKind.Execute)).ErrorCode);
        f.Cpu.Cpl = 3;
        Assert.Equal(Frame, f.Paging.Translate(Page, AccessKind.Execute));
    }

    [Fact]
    public void ReservedAddressBitsAboveMaxPhysicalAddressFaultWithRsvd()
    {
        using var f = new PagingFixture(); // no CPUID leaf 8000_0008h: MAXPHYADDR 36
        Assert.Equal(36, f.Paging.PhysicalAddressBits);
        f.Tables.Map(Page, Frame | (1UL << 40), P | W | U);
        Assert.Equal(9u, PagingFixture.PageFault(() => f.Memory.Read(Page, 8)).ErrorCode);
        Assert.Equal(0xBu, PagingFixture.PageFault(() => f.Memory.Write(Page, 8, 0)).ErrorCode);
        f.Cpu.Cpl = 3;
        Assert.Equal(0xDu, PagingFixture.PageFault(() => f.Memory.Read(Page, 8)).ErrorCode);
        Assert.Equal(0x1Du, PagingFixture.PageFault(() => f.Paging.Translate(Page, AccessKind.Execute)).ErrorCode);
        Assert.True((f.Tables.Read(f.Tables.Entry(Page, 1)) & A) == 0, "a faulting leaf gets no Accessed bit");

        // With 46 address bits, bit 40 is an address bit and bit 47 is reserved.
        f.Cpu.Cpl = 0;
        f.Cpu.Cpuid = [new CpuidEntry(0x8000_0008, 0, false, 0x302E, 0, 0, 0)];
        Assert.Equal(46, f.Paging.PhysicalAddressBits);
        Assert.Equal(Frame | (1UL << 40), f.Paging.Translate(Page, AccessKind.Read));
        f.Tables.Map(Page, Frame | (1UL << 47), P | W);
        f.Paging.InvalidatePage(Page);
        Assert.Equal(9u, PagingFixture.PageFault(() => f.Memory.Read(Page, 8)).ErrorCode);
    }

    [Fact]
    public void APageSizeBitInThePml4IsReserved()
    {
        using var f = new PagingFixture();
        f.Tables.Map(Page, Frame, P | W);
        f.Tables.SetBits(f.Tables.Entry(Page, 4), PS);
        Assert.Equal(9u, PagingFixture.PageFault(() => f.Memory.Read(Page, 8)).ErrorCode);
    }

    [Theory]
    [InlineData(0x20_0000UL, 13)]
    [InlineData(0x20_0000UL, 20)]
    [InlineData(0x4000_0000UL, 13)]
    [InlineData(0x4000_0000UL, 29)]
    public void LowAddressBitsOfALargePageAreReserved(ulong pageSize, int bit)
    {
        using var f = new PagingFixture();
        const ulong linear = 0x80_0000_0000;
        ulong entry = f.Tables.Map(linear, 0, P | W, pageSize);
        Assert.Equal(0UL, f.Memory.Read(linear, 8));
        f.Tables.SetBits(entry, 1UL << bit);
        f.Paging.Flush(includeGlobal: true);
        Assert.Equal(9u, PagingFixture.PageFault(() => f.Memory.Read(linear, 8)).ErrorCode);
    }

    [Fact]
    public void A2MiBPageMapsItsOffsetAndIgnoresThePatBit()
    {
        using var f = new PagingFixture();
        const ulong linear = 0x4020_0000, frame = 0x60_0000;
        f.Tables.Map(linear, frame | (1UL << 12), P | W, 0x20_0000); // bit 12 of a large page's entry is its PAT bit
        f.Ram.WriteUInt64(frame + 0x1_2345, 0xAB);
        Assert.Equal(frame + 0x1_2345, f.Paging.Translate(linear + 0x1_2345, AccessKind.Read));
        Assert.Equal(0xABUL, f.Memory.Read(linear + 0x1_2345, 8));
        f.Memory.Write(linear + 0x1F_F000, 8, 0x99);
        Assert.Equal(0x99UL, f.Ram.ReadUInt64(frame + 0x1F_F000));
        Assert.True((f.Tables.Read(f.Tables.Entry(linear, 2)) & (A | D)) == (A | D));
    }

    [Fact]
    public void A1GiBPageMapsItsOffset()
    {
        using var f = new PagingFixture();
        const ulong linear = 0xFFFF_8880_0000_0000; // Linux's direct map
        f.Tables.Map(linear, 0, P | W | G, 0x4000_0000);
        f.Ram.WriteUInt64(0x2A_B000, 0x5151);
        Assert.Equal(0x2A_B008UL, f.Paging.Translate(linear + 0x2A_B008, AccessKind.Read));
        Assert.Equal(0x5151UL, f.Memory.Read(linear + 0x2A_B000, 8));
        f.Memory.Write(linear + 0x3F_F000, 8, 0x42);
        Assert.Equal(0x42UL, f.Ram.ReadUInt64(0x3F_F000));
        Assert.True((f.Tables.Read(f.Tables.Entry(linear, 3)) & (A | D)) == (A | D));
    }

    [Fact]
    public void NonCanonicalAddressesRaiseGeneralProtection()
    {
        using var f = new PagingFixture();
        var fault = Assert.Throws<GuestFault>(() => f.Memory.Read(0x0000_8000_0000_0000, 8));
        Assert.Equal(GuestFault.GeneralProtection, fault.Vector);
        Assert.Equal(0u, fault.ErrorCode);
        Assert.Equal(GuestFault.GeneralProtection, Assert.Throws<GuestFault>(() => f.Memory.Write(0xFFFF_7FFF_FFFF_F000, 1, 0)).Vector);
    }

    [Fact]
    public void WithPagingOffLinearIsPhysicalTruncatedTo32Bits()
    {
        using var f = new PagingFixture();
        f.Cpu.Cr0 &= ~PagingFixture.Cr0Pg;
        f.Cpu.Efer = 0;
        f.Paging.Flush(includeGlobal: true);
        f.Ram.WriteUInt64(0x1234, 0xFEED);
        Assert.Equal(0x1234UL, f.Paging.Translate(0x1_0000_1234, AccessKind.Execute));
        Assert.Equal(0xFEEDUL, f.Memory.Read(0x1234, 8));
        f.Cpu.Cpl = 3;
        f.Memory.Write(0x1_0000_2000, 4, 0xABCD);
        Assert.Equal(0xABCDU, f.Ram.ReadUInt32(0x2000));
    }

    [Fact]
    public void PaePagingWalksFourPdptesThenDirectoryAndTable()
    {
        using var f = new PagingFixture();
        const ulong pdpt = 0x30_0020, pd = 0x30_1000, pt = 0x30_2000;
        const uint linear = 0xC040_3000; // PDPTE 3, PDE 2, PTE 3
        f.Ram.WriteUInt64(pdpt + 3 * 8, pd | P);
        f.Ram.WriteUInt64(pd + 2 * 8, pt | P | W);
        f.Ram.WriteUInt64(pt + 3 * 8, Frame | P | W | XD);
        f.Cpu.Efer = PagingFixture.EferNxe;
        f.Cpu.Cr4 = PagingFixture.Cr4Pae;
        f.Cpu.Cr3 = pdpt;
        f.Paging.Flush(includeGlobal: true);
        f.Memory.Write(linear + 0x10, 8, 0x3131);
        Assert.Equal(0x3131UL, f.Ram.ReadUInt64(Frame + 0x10));
        Assert.Equal(P, f.Ram.ReadUInt64(pdpt + 3 * 8) & ~0xFFFFF000UL); // PAE PDPTEs have no Accessed bit
        Assert.Equal(A, f.Ram.ReadUInt64(pd + 2 * 8) & A);
        Assert.Equal(A | D, f.Ram.ReadUInt64(pt + 3 * 8) & (A | D));
        Assert.Equal(0x11u, PagingFixture.PageFault(() => f.Paging.Translate(linear, AccessKind.Execute)).ErrorCode);
        f.Ram.WriteUInt64(pdpt, pd | P | W); // R/W is reserved in a PAE PDPTE
        Assert.Equal(9u, PagingFixture.PageFault(() => f.Memory.Read(0x1000, 8)).ErrorCode);
    }

    [Fact]
    public void ThirtyTwoBitPagingMaps4KiBAnd4MiBPages()
    {
        using var f = new PagingFixture();
        const ulong pd = 0x30_0000, pt = 0x30_1000;
        f.Ram.WriteUInt32(pd + 1 * 4, (uint)(pt | P | W | U));
        f.Ram.WriteUInt32(pt + 5 * 4, (uint)(Frame | P | W | U));
        f.Ram.WriteUInt32(pd + 3 * 4, (uint)(0x80_0000 | P | W | PS));
        f.Cpu.Efer = 0;
        f.Cpu.Cr4 = PagingFixture.Cr4Pse;
        f.Cpu.Cr3 = pd;
        f.Paging.Flush(includeGlobal: true);

        f.Memory.Write(0x40_5008, 4, 0x3232);
        Assert.Equal(0x3232U, f.Ram.ReadUInt32(Frame + 8));
        Assert.Equal((uint)(A | D), f.Ram.ReadUInt32(pt + 5 * 4) & (uint)(A | D));
        Assert.Equal(0x81_2345UL, f.Paging.Translate(0xC1_2345, AccessKind.Read));
        Assert.Equal((uint)A, f.Ram.ReadUInt32(pd + 3 * 4) & (uint)(A | D));
        f.Cpu.Cpl = 3;
        Assert.Equal(5u, PagingFixture.PageFault(() => f.Memory.Read(0xC0_0000, 4)).ErrorCode);
        Assert.Equal(6u, PagingFixture.PageFault(() => f.Memory.Write(0x1000, 4, 0)).ErrorCode);
        // Bit 21 of a 4 MiB page's entry is reserved.
        f.Ram.WriteUInt32(pd + 3 * 4, (uint)(0x80_0000 | P | W | PS | (1 << 21)));
        f.Paging.Flush(includeGlobal: true);
        f.Cpu.Cpl = 0;
        Assert.Equal(9u, PagingFixture.PageFault(() => f.Memory.Read(0xC0_0000, 4)).ErrorCode);
    }

    [Fact]
    public void PageTablesOutsideRamReadAsAllOnesAndFaultWithRsvd()
    {
        using var f = new PagingFixture();
        f.Tables.Map(Page, Frame, P | W);
        f.Tables.Write(f.Tables.Entry(Page, 2), 0xE000_0000 | P | W); // a page table in the MMIO hole
        Assert.Equal(9u, PagingFixture.PageFault(() => f.Memory.Read(Page, 8)).ErrorCode);
    }
}
