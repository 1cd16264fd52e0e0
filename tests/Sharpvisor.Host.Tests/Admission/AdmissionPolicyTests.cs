using Sharpvisor.Host.Admission;

namespace Sharpvisor.Host.Tests.Admission;

public sealed class AdmissionPolicyTests
{
    private static readonly HostCapacity Host = new() { Cores = 24, MemoryBytes = 24_576UL << 20, DiskBytes = 100UL << 30 };

    [Fact]
    public void The_refusal_names_what_is_needed_what_is_taken_and_how_the_limit_is_made()
    {
        var used = new Allocation(4, 34_816UL << 20, 0);
        Assert.Equal("needs 2,048 MiB; 34,816 of 36,096 MiB already allocated; 36,096 = (24,576 - 512) × 1.5",
            AdmissionPolicy.Refusal(Host, used, new Allocation(1, 2048UL << 20, 0)));
        Assert.Null(AdmissionPolicy.Refusal(Host, used, new Allocation(1, 1280UL << 20, 0))); // exactly the limit
    }

    [Theory]
    [InlineData(96, 0, null)]
    [InlineData(95, 1, null)]
    [InlineData(96, 1, "needs 1 vCPUs; 96 of 96 already allocated; 96 = 24 cores × 4")]
    public void Vcpus_are_admitted_up_to_cores_times_the_ratio(int used, int requested, string? refusal) =>
        Assert.Equal(refusal, AdmissionPolicy.Refusal(Host, new Allocation(used, 0, 0), new Allocation(requested, 0, 0)));

    [Fact]
    public void Disk_is_admitted_up_to_its_size_times_its_ratio()
    {
        Assert.Null(AdmissionPolicy.Refusal(Host, new Allocation(0, 0, 60UL << 30), new Allocation(1, 1 << 20, 40UL << 30)));
        Assert.StartsWith("needs 40,961 MiB of disk; 61,440 of 102,400 MiB",
            AdmissionPolicy.Refusal(Host, new Allocation(0, 0, 60UL << 30), new Allocation(1, 1 << 20, (40UL << 30) + 4096)));
    }

    [Fact]
    public void A_capacity_with_no_room_or_an_absurd_ratio_is_refused_at_start()
    {
        Assert.Throws<FormatException>(() => (Host with { ReservedMemoryBytes = Host.MemoryBytes }).Validated());
        Assert.Throws<FormatException>(() => (Host with { MemoryRatio = 0 }).Validated());
        Assert.Throws<FormatException>(() => (Host with { CpuRatio = double.NaN }).Validated());
    }
}
