using Sharpvisor.Host.Resources;

namespace Sharpvisor.Host.Tests.Resources;

public sealed class BalloonPolicyTests
{
    private const ulong MiB = 1UL << 20;

    private static BalloonedVm Vm(string name, ulong memory, ulong keep, ulong? available, ulong? floor = null) =>
        new(name, memory * MiB, (floor ?? memory / 2) * MiB, keep * MiB, available is { } a ? a * MiB : null);

    [Fact]
    public void Under_the_target_and_above_the_deflate_line_nothing_changes()
    {
        Assert.Empty(BalloonPolicy.Decide(950 * MiB, 1000 * MiB, [Vm("a", 512, 400, 200)]));
    }

    [Fact]
    public void Above_the_target_the_VM_with_the_most_available_memory_gives_first_at_most_100_MiB()
    {
        var changes = BalloonPolicy.Decide(1300 * MiB, 1000 * MiB, [Vm("lean", 512, 512, 60), Vm("idle", 1024, 1024, 700), Vm("mid", 512, 512, 300)]);
        // 300 MiB over: idle gives 100, mid 100, lean 28 (its 60 available less the 32 it keeps as headroom).
        Assert.Equal([new BalloonChange("idle", 924 * MiB, 1024 * MiB), new BalloonChange("mid", 412 * MiB, 512 * MiB), new BalloonChange("lean", 484 * MiB, 512 * MiB)], changes);
        Assert.All(changes, c => Assert.True(c.Inflates));
    }

    [Fact]
    public void It_takes_only_what_is_over_the_target()
    {
        Assert.Equal([new BalloonChange("a", 482 * MiB, 512 * MiB)], BalloonPolicy.Decide(1030 * MiB, 1000 * MiB, [Vm("a", 512, 512, 400), Vm("b", 512, 512, 300)]));
    }

    [Fact]
    public void A_VM_at_its_floor_or_without_statistics_is_left_alone()
    {
        var changes = BalloonPolicy.Decide(2000 * MiB, 1000 * MiB, [Vm("floor", 512, 256, 200, floor: 256), Vm("near", 512, 300, 200, floor: 256), Vm("silent", 512, 512, null)]);
        Assert.Equal([new BalloonChange("near", 256 * MiB, 300 * MiB)], changes);
    }

    [Fact]
    public void Below_the_deflate_line_the_most_inflated_VM_gets_memory_back_first_within_the_room()
    {
        // Deflating starts under 900 MiB; 850 used leaves 50 MiB of room, which the emptier guest gets.
        var changes = BalloonPolicy.Decide(850 * MiB, 1000 * MiB, [Vm("some", 512, 462, 100), Vm("most", 512, 312, 100), Vm("full", 512, 512, 100)]);
        Assert.Equal([new BalloonChange("most", 362 * MiB, 312 * MiB)], changes);
        Assert.False(changes[0].Inflates);
    }

    [Fact]
    public void With_room_to_spare_a_balloon_deflates_100_MiB_a_step_and_its_last_pages_go_whole()
    {
        Assert.Equal([new BalloonChange("a", 412 * MiB, 312 * MiB), new BalloonChange("b", 512 * MiB, 510 * MiB)],
            BalloonPolicy.Decide(100 * MiB, 1000 * MiB, [Vm("a", 512, 312, 100), Vm("b", 512, 510, 100)]));
    }
}
