using System.Buffers.Binary;
using Sharpvisor.Machine.Acpi;
using Sharpvisor.Machine.Memory;
using Sharpvisor.Vmm.Configuration;

namespace Sharpvisor.Vmm.Tests.Numa;

public sealed class NumaConfigurationTests
{
    private const ulong MiB = 1UL << 20;

    [Fact]
    public void The_command_line_form_gives_each_node_its_vCPUs_and_memory()
    {
        var nodes = NumaSpec.Parse(["node0:cpus=0-1,3,mem=512M", "node1:cpus=2,mem=1G"]);
        Assert.Equal([0, 1, 3], nodes[0].Vcpus);
        Assert.Equal(512 * MiB, nodes[0].MemoryBytes);
        Assert.Equal([2], nodes[1].Vcpus);
        Assert.Equal(1024 * MiB, nodes[1].MemoryBytes);
    }

    [Theory]
    [InlineData("node1:cpus=0,mem=64M", "expected node0:cpus=LIST,mem=SIZE")]
    [InlineData("node0:cpus=0", "no mem=")]
    [InlineData("node0:mem=64M", "no cpus=")]
    [InlineData("node0:cpus=0,mem=64M,x=1", "unknown key 'x'")]
    [InlineData("node0:cpus=1-0,mem=64M", "'1-0' is not a vCPU or a range")]
    public void A_bad_node_says_what_is_wrong(string spec, string message) =>
        Assert.Contains(message, Assert.Throws<FormatException>(() => NumaSpec.Parse([spec])).Message);

    [Theory]
    [InlineData(new[] { 0 }, 64, new[] { 1 }, 64, 2, 128, null)]
    [InlineData(new[] { 0 }, 64, new[] { 0, 1 }, 64, 2, 128, "vCPU 0 is in more than one NUMA node")]
    [InlineData(new[] { 0 }, 64, new[] { 2 }, 64, 2, 128, "NUMA node 1 names vCPU 2, but the VM has vCPUs 0-1")]
    [InlineData(new[] { 0 }, 64, new[] { 1 }, 64, 3, 128, "vCPU 2 is in no NUMA node")]
    [InlineData(new[] { 0 }, 64, new[] { 1 }, 64, 2, 256, "the NUMA nodes have 128 MiB in all, but the VM has 256 MiB")]
    [InlineData(new[] { 0 }, 16, new[] { 1 }, 112, 2, 128, "NUMA node 0 has 16 MiB")]
    public void Nodes_must_split_every_vCPU_and_all_memory(int[] cpus0, int mib0, int[] cpus1, int mib1, int vcpus, int memoryMib, string? problem)
    {
        NumaNode[] nodes = [new(cpus0, (ulong)mib0 * MiB), new(cpus1, (ulong)mib1 * MiB)];
        var thrown = Record.Exception(() => NumaNode.Validate(nodes, vcpus, (ulong)memoryMib * MiB));
        if (problem is null) Assert.Null(thrown);
        else Assert.Contains(problem, Assert.IsType<FormatException>(thrown).Message);
    }

    [Fact]
    public void A_node_whose_share_crosses_the_MMIO_hole_gets_a_range_on_each_side()
    {
        var ranges = NumaNode.Ranges([new NumaNode([0], 2048 * MiB), new NumaNode([1], 2048 * MiB)]);
        Assert.Equal([(0UL, 2048 * MiB)], ranges[0]);
        Assert.Equal([(2048 * MiB, 1024 * MiB), (4096 * MiB, 1024 * MiB)], ranges[1]);
    }

    [Fact]
    public void The_SRAT_and_SLIT_are_listed_and_hold_the_nodes()
    {
        NumaNode[] nodes = [new([0, 2], 128 * MiB), new([1, 3], 128 * MiB)];
        var tables = new AcpiTableBuilder([0, 1, 2, 3]) { NumaNodes = nodes }.Build();
        byte[] srat = tables["SRAT"].Bytes, slit = tables["SLIT"].Bytes;
        Assert.Equal(0, srat.Aggregate(0, (s, b) => (s + b) & 0xFF));                     // checksums
        Assert.Equal(0, slit.Aggregate(0, (s, b) => (s + b) & 0xFF));
        // After the 36-byte header and 12 bytes of revision and reserve: four processor entries, then two memory ones.
        var processors = Enumerable.Range(0, 4).Select(i => srat.AsSpan(48 + 16 * i, 16).ToArray()).ToArray();
        Assert.Equal([(0, 0), (2, 0), (1, 1), (3, 1)], processors.Select(p => ((int)p[3], (int)p[2])));   // (APIC id, node)
        var memory = Enumerable.Range(0, 2).Select(i => srat.AsSpan(48 + 64 + 40 * i, 40).ToArray()).ToArray();
        Assert.All(memory, m => Assert.Equal((1, 40), (m[0], m[1])));
        Assert.Equal([(0u, 0UL, 128 * MiB), (1u, 128 * MiB, 128 * MiB)],
            memory.Select(m => (BinaryPrimitives.ReadUInt32LittleEndian(m.AsSpan(2)), BinaryPrimitives.ReadUInt64LittleEndian(m.AsSpan(8)), BinaryPrimitives.ReadUInt64LittleEndian(m.AsSpan(16)))));
        Assert.Equal(2UL, BinaryPrimitives.ReadUInt64LittleEndian(slit.AsSpan(36)));
        Assert.Equal(new byte[] { 10, 20, 20, 10 }, slit[44..]);
        // The XSDT points at both.
        byte[] xsdt = tables["XSDT"].Bytes;
        var pointed = Enumerable.Range(0, (xsdt.Length - 36) / 8).Select(i => BinaryPrimitives.ReadUInt64LittleEndian(xsdt.AsSpan(36 + 8 * i))).ToArray();
        Assert.Contains(tables["SRAT"].Address, pointed);
        Assert.Contains(tables["SLIT"].Address, pointed);
    }

    [Fact]
    public void Without_nodes_there_is_no_SRAT()
    {
        var tables = new AcpiTableBuilder([0, 1]).Build();
        Assert.DoesNotContain(tables.Tables, t => t.Signature is "SRAT" or "SLIT");
    }
}
