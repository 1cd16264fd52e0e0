using Sharpvisor.Machine.Memory;
using Sharpvisor.Machine.Native;

namespace Sharpvisor.Machine.Tests.Memory;

public class FreshPageCopyTests
{
    private const int Pages = 64;

    [Fact]
    public void CopyingIntoUntouchedPagesFaultsOncePerPage()
    {
        using var region = new GuestMemoryRegion(0, 0, Pages * 4096UL);
        var page = new byte[4096];
        Random.Shared.NextBytes(page);
        var warm = new byte[4096];
        // Everything the loop calls is compiled before counting: the JIT faulting in pages would count on this thread.
        FreshPageCopy.Copy(page, warm);
        _ = region.SpanAt(0, 4096).Length;
        _ = ThreadMinorFaults();

        long before = ThreadMinorFaults();
        for (ulong i = 0; i < Pages; i++) FreshPageCopy.Copy(page, region.SpanAt(i * 4096, 4096));
        long faults = ThreadMinorFaults() - before;

        // A read fault (zero page) and then a copy-on-write fault per page would be 128.
        Assert.InRange(faults, Pages, Pages + 16);
        for (ulong i = 0; i < Pages; i++) Assert.True(region.SpanAt(i * 4096, 4096).SequenceEqual(page));
    }

    [Fact]
    public void OverlappingAndShortDestinationsBehaveAsCopyTo()
    {
        byte[] bytes = [1, 2, 3, 4, 5, 6];
        FreshPageCopy.Copy(bytes.AsSpan(0, 4), bytes.AsSpan(1)); // forward overlap: memmove semantics
        Assert.Equal([1, 1, 2, 3, 4, 6], bytes);
        Assert.Throws<ArgumentException>(() => FreshPageCopy.Copy(new byte[4], new byte[3]));
        FreshPageCopy.Copy([], []);
    }

    private static unsafe long ThreadMinorFaults()
    {
        const int RusageThread = 1, MinorFaultsOffset = 64; // after ru_utime, ru_stime and four longs
        byte* usage = stackalloc byte[144];
        if (Libc.getrusage(RusageThread, usage) != 0) throw new InvalidOperationException("getrusage failed");
        return *(long*)(usage + MinorFaultsOffset);
    }
}
