using Sharpvisor.Machine.Cpu;

namespace Sharpvisor.Machine.Tests.Cpu;

public class CpuTopologyTests
{
    [Fact]
    public void ParsesAllPartsInAnyOrder()
    {
        var t = CpuTopology.Parse("threads=2,sockets=2,cores=3");
        Assert.Equal(new CpuTopology(2, 3, 2), t);
        Assert.Equal(12, t.VcpuCount);
    }

    [Theory]
    [InlineData("cores=0")]
    [InlineData("cores=x")]
    [InlineData("dies=2")]
    [InlineData("sockets")]
    [InlineData("sockets=16,cores=16")]
    public void RejectsBadTopologies(string text) => Assert.Throws<FormatException>(() => CpuTopology.Parse(text));

    [Fact]
    public void ApicIdsPackThreadCoreAndSocketFields()
    {
        // 3 cores need 2 bits, 2 threads need 1 bit: socket 1, core 2, thread 1 -> 1<<3 | 2<<1 | 1 = 13.
        var t = new CpuTopology(2, 3, 2);
        Assert.Equal((1, 2, 1), t.Locate(11));
        Assert.Equal(13u, t.ApicId(11));
        Assert.Equal([0u, 1, 2, 3, 4, 5, 8, 9, 10, 11, 12, 13], t.ApicIds());
    }

    private static readonly CpuidEntry[] Baseline =
    [
        new(0, 0, false, 0x1F, 0x68747541, 0x444D4163, 0x69746E65),
        new(1, 0, false, 0x00A00F11, 0x00000800, 0x7EF8320B, 0x178BFBFF),
        new(4, 0, true, 0x00000121, 0, 0, 0),
        new(4, 3, true, 0x00000163, 0, 0, 0),
        new(0xB, 0, true, 1, 2, 0x100, 7),
        new(0x8000_0008, 0, false, 0x3030, 0, 0x7007, 0),
    ];

    [Fact]
    public void CpuidLeavesDescribeTheTopologyAndTheVcpu()
    {
        var t = new CpuTopology(1, 4, 2);
        var entries = CpuidShaper.Shape(Baseline, t, 5); // core 2, thread 1 -> APIC ID 5
        var leaf1 = entries.Single(e => e.Function == 1);
        Assert.Equal(5u, leaf1.Ebx >> 24);
        Assert.Equal(8u, (leaf1.Ebx >> 16) & 0xFF);
        Assert.NotEqual(0u, leaf1.Ecx & CpuidShaper.HypervisorBit);
        Assert.NotEqual(0u, leaf1.Edx & CpuidShaper.HyperThreadingBit);

        var smt = entries.Single(e => e.Function == 0xB && e.Index == 0);
        var core = entries.Single(e => e.Function == 0xB && e.Index == 1);
        Assert.Equal((1u, 2u, 0x100u, 5u), (smt.Eax, smt.Ebx, smt.Ecx, smt.Edx));
        Assert.Equal((3u, 8u, 0x201u, 5u), (core.Eax, core.Ebx, core.Ecx, core.Edx));
        Assert.Equal(2u, entries.Single(e => e.Function == 0xB && e.Index == 2).Ecx);
        Assert.Equal(3, entries.Count(e => e.Function == 0x1F));

        var l1 = entries.Single(e => e.Function == 4 && e.Index == 0);
        Assert.Equal(3u, l1.Eax >> 26);             // 4 cores per package, minus one
        Assert.Equal(1u, (l1.Eax >> 14) & 0xFFF);   // L1 shared by the 2 threads of a core
        var l3 = entries.Single(e => e.Function == 4 && e.Index == 3);
        Assert.Equal(7u, (l3.Eax >> 14) & 0xFFF);   // L3 shared by all 8

        Assert.Equal(7u, entries.Single(e => e.Function == 0x8000_0008).Ecx & 0xFF);
    }

    [Fact]
    public void OneVcpuHasNoHyperThreadingBit()
    {
        var leaf1 = CpuidShaper.Shape(Baseline, CpuTopology.Flat(1), 0).Single(e => e.Function == 1);
        Assert.Equal(0u, leaf1.Edx & CpuidShaper.HyperThreadingBit);
        Assert.Equal(0u, leaf1.Ebx >> 24);
    }
}

public class CpuidPolicyTests
{
    [Fact]
    public void XsaveComponentsBeyondFourKibAndThePmuAreHidden()
    {
        CpuidEntry[] baseline =
        [
            new(0xA, 0, false, 0x0803_0A02, 0, 0, 0),
            new(0xD, 0, true, 0x0006_00E7, 0x2B00, 0x2B00, 0),       // x87, SSE, AVX, AVX-512 (5-7), AMX (17, 18)
            new(0xD, 1, true, 0xF, 0x2B00, 0, 0),
            new(0xD, 2, true, 0x100, 0x240, 0, 0),
            new(0xD, 7, true, 0x400, 0x480, 0, 0),
            new(0xD, 17, true, 0x40, 0xAC0, 0, 0),
            new(0xD, 18, true, 0x2000, 0xB00, 0, 0),
        ];
        var filtered = CpuidPolicy.Filter(baseline);
        Assert.Equal(new CpuidEntry(0xA, 0, false, 0, 0, 0, 0), filtered.Single(e => e.Function == 0xA));
        var leaf0 = filtered.Single(e => e.Function == 0xD && e.Index == 0);
        Assert.Equal(0x0000_00E7u, leaf0.Eax);                      // AMX (17 goes with 18) dropped, the rest kept
        Assert.True(leaf0.Ecx <= CpuidPolicy.XsaveAreaBytes);
        Assert.DoesNotContain(filtered, e => e.Function == 0xD && e.Index == 18);
        Assert.Contains(filtered, e => e.Function == 0xD && e.Index == 7);
    }
}
