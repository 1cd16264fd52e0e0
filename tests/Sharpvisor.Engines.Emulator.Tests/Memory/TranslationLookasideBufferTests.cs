using Sharpvisor.Engines.Emulator.Memory;
using static Sharpvisor.Engines.Emulator.Tests.Memory.PageTableBuilder;

namespace Sharpvisor.Engines.Emulator.Tests.Memory;

public class TranslationLookasideBufferTests
{
    private const ulong Page = 0x4000_1000, Frame = 0x20_0000, OtherFrame = 0x30_0000;

    private static PagingFixture WithTwoFrames()
    {
        var f = new PagingFixture();
        f.Ram.WriteUInt64(Frame, 0xAAAA);
        f.Ram.WriteUInt64(OtherFrame, 0xBBBB);
        return f;
    }

    [Fact]
    public void ACachedTranslationOutlivesItsEntryUntilInvalidated()
    {
        using var f = WithTwoFrames();
        ulong pte = f.Tables.Map(Page, Frame, P | W);
        Assert.Equal(0xAAAAUL, f.Memory.Read(Page, 8));
        f.Tables.Write(pte, OtherFrame | P | W | A);
        Assert.Equal(0xAAAAUL, f.Memory.Read(Page, 8)); // stale, as on hardware, until INVLPG
        Assert.Equal(1, f.Paging.Walks);
        f.Paging.InvalidatePage(Page + 0x800);
        Assert.Equal(0xBBBBUL, f.Memory.Read(Page, 8));
        Assert.Equal(2, f.Paging.Walks);
    }

    [Fact]
    public void GlobalPagesSurviveANonGlobalFlushOnlyWithPge()
    {
        using var f = WithTwoFrames();
        const ulong globalPage = 0xFFFF_FFFF_8100_0000;
        ulong pte = f.Tables.Map(Page, Frame, P | W);
        ulong globalPte = f.Tables.Map(globalPage, Frame, P | W | G);
        Assert.Equal(0xAAAAUL, f.Memory.Read(Page, 8));
        Assert.Equal(0xAAAAUL, f.Memory.Read(globalPage, 8));
        f.Tables.Write(pte, OtherFrame | P | W);
        f.Tables.Write(globalPte, OtherFrame | P | W | G);

        f.Paging.Flush(includeGlobal: false); // MOV CR3
        Assert.Equal(0xBBBBUL, f.Memory.Read(Page, 8));
        Assert.Equal(0xAAAAUL, f.Memory.Read(globalPage, 8));
        f.Paging.Flush(includeGlobal: true);
        Assert.Equal(0xBBBBUL, f.Memory.Read(globalPage, 8));

        // Without CR4.PGE the G bit means nothing.
        f.Cpu.Cr4 &= ~PagingFixture.Cr4Pge;
        f.Paging.Flush(includeGlobal: true);
        Assert.Equal(0xBBBBUL, f.Memory.Read(globalPage, 8));
        f.Tables.Write(globalPte, Frame | P | W | G);
        f.Paging.Flush(includeGlobal: false);
        Assert.Equal(0xAAAAUL, f.Memory.Read(globalPage, 8));
    }

    [Fact]
    public void InvalidatePageDropsAGlobalPage()
    {
        using var f = WithTwoFrames();
        ulong pte = f.Tables.Map(Page, Frame, P | W | G);
        Assert.Equal(0xAAAAUL, f.Memory.Read(Page, 8));
        f.Tables.Write(pte, OtherFrame | P | W | G);
        f.Paging.InvalidatePage(Page);
        Assert.Equal(0xBBBBUL, f.Memory.Read(Page, 8));
    }

    [Fact]
    public void InvalidatePageDropsEveryCachedPieceOfALargePage()
    {
        using var f = new PagingFixture();
        const ulong linear = 0x4020_0000;
        ulong pde = f.Tables.Map(linear, 0x60_0000, P | W, 0x20_0000);
        f.Ram.WriteUInt64(0x60_0000, 1);
        f.Ram.WriteUInt64(0x6F_0000, 2);
        f.Ram.WriteUInt64(0xA0_0000, 3);
        f.Ram.WriteUInt64(0xAF_0000, 4);
        Assert.Equal(1UL, f.Memory.Read(linear, 8));
        Assert.Equal(2UL, f.Memory.Read(linear + 0xF_0000, 8));
        f.Tables.Write(pde, 0xA0_0000 | P | W | PS);
        f.Paging.InvalidatePage(linear + 0x1234); // names the first piece only
        Assert.Equal(3UL, f.Memory.Read(linear, 8));
        Assert.Equal(4UL, f.Memory.Read(linear + 0xF_0000, 8));
    }

    [Fact]
    public void AReadHitDoesNotGrantWritesUntilTheDirtyBitIsSet()
    {
        using var f = new PagingFixture();
        ulong pte = f.Tables.Map(Page, Frame, P | W);
        f.Memory.Read(Page, 8);
        f.Memory.Read(Page + 8, 8);
        Assert.Equal(1, f.Paging.Walks);
        Assert.Equal(0UL, f.Tables.Read(pte) & D);

        f.Memory.Write(Page, 8, 1);
        Assert.Equal(2, f.Paging.Walks);
        Assert.Equal(D, f.Tables.Read(pte) & D);
        f.Memory.Write(Page + 8, 8, 2);
        f.Memory.Read(Page + 16, 8);
        Assert.Equal(2, f.Paging.Walks);
    }

    [Fact]
    public void APrivilegeChangeNeedsNoFlush()
    {
        using var f = new PagingFixture();
        const ulong userPage = 0x5000_0000;
        f.Tables.Map(Page, Frame, P | W | D);
        f.Tables.Map(userPage, Frame, P | W | U | D);
        f.Memory.Write(Page, 8, 1);
        f.Memory.Write(userPage, 8, 1);
        f.Cpu.Cpl = 3;
        Assert.Equal(7u, PagingFixture.PageFault(() => f.Memory.Write(Page, 8, 0)).ErrorCode);
        Assert.Equal(5u, PagingFixture.PageFault(() => f.Memory.Read(Page, 8)).ErrorCode);
        f.Memory.Write(userPage, 8, 9);
        f.Cpu.Cpl = 0;
        Assert.Equal(9UL, f.Memory.Read(Page, 8));
    }

    [Fact]
    public void AWriteCrossingIntoANotPresentPageFaultsAndWritesNothing()
    {
        using var f = new PagingFixture();
        f.Tables.Map(Page, Frame, P | W | D);
        f.Ram.WriteUInt64(Frame + 0xFF8, 0x0102_0304_0506_0708);
        f.Memory.Write(Page + 0xFF0, 8, 0x11); // the first page's translation, with write rights, is in the TLB
        var fault = PagingFixture.PageFault(() => f.Memory.Write(Page + 0xFFC, 8, ulong.MaxValue));
        Assert.Equal(2u, fault.ErrorCode);
        Assert.Equal(Page + 0x1000, fault.FaultAddress);
        Assert.Equal(0x0102_0304_0506_0708UL, f.Ram.ReadUInt64(Frame + 0xFF8));

        var bytes = new byte[16];
        bytes.AsSpan().Fill(0xEE);
        PagingFixture.PageFault(() => f.Memory.WriteBytes(Page + 0xFF8, bytes));
        Assert.Equal(0x0102_0304_0506_0708UL, f.Ram.ReadUInt64(Frame + 0xFF8));
    }

    [Fact]
    public void AccessesCrossingIntoAPresentPageUseBothFrames()
    {
        using var f = new PagingFixture();
        f.Tables.Map(Page, Frame, P | W);
        f.Tables.Map(Page + 0x1000, OtherFrame, P | W);
        f.Memory.Write(Page + 0xFFE, 4, 0xAABB_CCDD);
        Assert.Equal(0xCCDDU, f.Ram.ReadUInt16(Frame + 0xFFE));
        Assert.Equal(0xAABBU, f.Ram.ReadUInt16(OtherFrame));
        Assert.Equal(0xAABB_CCDDUL, f.Memory.Read(Page + 0xFFE, 4));
    }

    [Fact]
    public void FlushEmptiesTheBufferAndSwappingTranslatorsFlushesIt()
    {
        using var f = new PagingFixture();
        for (ulong i = 0; i < 16; i++) f.Tables.Map(Page + i * 0x1000, Frame + i * 0x1000, P | W);
        for (ulong i = 0; i < 16; i++) f.Memory.Read(Page + i * 0x1000, 8);
        Assert.Equal(16, f.Memory.Tlb.Count);
        f.Paging.Flush(includeGlobal: false);
        Assert.Equal(0, f.Memory.Tlb.Count);
        f.Memory.Read(Page, 8);
        f.Memory.Translator = IdentityTranslator.Instance;
        Assert.Equal(0, f.Memory.Tlb.Count);
        Assert.Equal(ulong.MaxValue, f.Memory.Read(Page, 8)); // identity: 0x4000_1000 is outside RAM; nothing on the bus reads as ones
        Assert.Equal(1, f.Memory.Tlb.Count);
    }
}
