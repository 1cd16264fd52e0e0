using Sharpvisor.Host.Instances;
using Sharpvisor.Vmm.Configuration;

namespace Sharpvisor.Host.Tests.Instances;

/// <summary>The resource fields of a definition: CPU lists, weights and the balloon's floor, each refused naming itself.</summary>
public sealed class InstanceResourceFieldsTests
{
    private sealed class AnyDisk : IDiskPathPolicy
    {
        public string? Problem(DiskSpec disk) => null;
        public string? FileProblem(string field, string path) => null;
    }

    [Theory]
    [InlineData("0", 4, "0")]
    [InlineData("0-2,1,3", 4, "0,1,2,3")]
    [InlineData(" 3 , 1", 4, "1,3")]
    public void A_CPU_list_names_each_CPU_once_in_order(string text, int hostCpus, string expected) =>
        Assert.Equal(expected, string.Join(',', CpuList.Parse(text, hostCpus)));

    [Theory]
    [InlineData("", "'' in CPU list '' is not a CPU number or a range like 0-3")]
    [InlineData("1-", "'1-' in CPU list '1-' is not a CPU number or a range like 0-3")]
    [InlineData("-1", "'-1' in CPU list '-1' is not a CPU number or a range like 0-3")]
    [InlineData("a", "'a' in CPU list 'a' is not a CPU number or a range like 0-3")]
    [InlineData("3-1", "range '3-1' in CPU list '3-1' runs backwards")]
    [InlineData("0,4", "CPU 4 in '0,4' is not on this host, which has CPUs 0-3")]
    public void A_bad_CPU_list_says_what_is_wrong(string text, string message) =>
        Assert.Equal(message, Assert.Throws<FormatException>(() => CpuList.Parse(text, 4)).Message);

    [Theory]
    [InlineData(0, null, false, null, "cpu_weight")]
    [InlineData(10001, null, false, null, "cpu_weight")]
    [InlineData(100, "99999", false, null, "cpu_pin")]
    [InlineData(100, null, false, 128UL << 20, "balloon_min")]   // a floor without a balloon
    [InlineData(100, null, true, 1UL << 30, "balloon_min")]      // above the VM's 512 MiB
    public void Resource_fields_out_of_range_are_refused_naming_the_field(int weight, string? pin, bool balloon, ulong? floor, string field)
    {
        var definition = new InstanceDefinition { Name = "r", CpuWeight = weight, CpuPin = pin, Balloon = balloon, BalloonMinimumBytes = floor };
        Assert.Equal(field, Assert.Throws<InstanceDefinitionException>(() => definition.Validated(new AnyDisk())).Field);
    }

    [Fact]
    public void The_balloon_floor_is_half_the_memory_unless_given()
    {
        var definition = new InstanceDefinition { Name = "r", MemoryBytes = 300UL << 20, Balloon = true };
        Assert.Equal(150UL << 20, definition.Validated(new AnyDisk()).BalloonFloorBytes);
        Assert.Equal(200UL << 20, (definition with { BalloonMinimumBytes = 200UL << 20 }).Validated(new AnyDisk()).BalloonFloorBytes);
    }

    [Fact]
    public void NUMA_nodes_must_split_the_VMs_vCPUs_and_memory()
    {
        var definition = new InstanceDefinition { Name = "n", Topology = Sharpvisor.Machine.Cpu.CpuTopology.Flat(2), MemoryBytes = 256UL << 20 };
        var good = definition with { Numa = ["node0:cpus=0,mem=128M", "node1:cpus=1,mem=128M"] };
        Assert.Same(good, good.Validated(new AnyDisk()));
        var wrong = Assert.Throws<InstanceDefinitionException>(() => (definition with { Numa = ["node0:cpus=0-1,mem=128M"] }).Validated(new AnyDisk()));
        Assert.Equal(("numa", "the NUMA nodes have 128 MiB in all, but the VM has 256 MiB of memory: they must be equal"), (wrong.Field, wrong.Message));
    }
}
