using Sharpvisor.Vmm.Lifecycle;

namespace Sharpvisor.Vmm.Tests.Lifecycle;

public sealed class VmStateMachineTests
{
    [Fact]
    public void Only_the_listed_moves_are_allowed()
    {
        var allowed = new HashSet<(VmState, VmState)>
        {
            (VmState.Created, VmState.Running), (VmState.Created, VmState.Paused), (VmState.Created, VmState.Stopped),
            (VmState.Running, VmState.Paused), (VmState.Running, VmState.Migrating), (VmState.Running, VmState.Stopped),
            (VmState.Paused, VmState.Running), (VmState.Paused, VmState.Saving), (VmState.Paused, VmState.Migrating), (VmState.Paused, VmState.Stopped),
            (VmState.Saving, VmState.Saved), (VmState.Saving, VmState.Paused),
            (VmState.Saved, VmState.Running), (VmState.Saved, VmState.Paused), (VmState.Saved, VmState.Stopped),
            (VmState.Migrating, VmState.Running), (VmState.Migrating, VmState.Paused), (VmState.Migrating, VmState.Stopped),
        };
        foreach (var from in Enum.GetValues<VmState>())
            foreach (var to in Enum.GetValues<VmState>())
                Assert.True(allowed.Contains((from, to)) == VmStateMachine.IsAllowed(from, to), $"{from} -> {to}");
    }

    [Fact]
    public void A_forbidden_move_throws_and_leaves_the_state_alone()
    {
        var machine = new VmStateMachine();
        var seen = new List<(VmState, VmState)>();
        machine.Changed += (a, b) => seen.Add((a, b));
        machine.MoveTo(VmState.Running);
        var e = Assert.Throws<InvalidVmTransitionException>(() => machine.MoveTo(VmState.Saving));
        Assert.Equal("a VM that is running cannot become saving", e.Message);
        Assert.Equal(VmState.Running, machine.State);
        machine.MoveTo(VmState.Paused);
        machine.MoveTo(VmState.Saving);
        machine.MoveTo(VmState.Saved);
        machine.MoveTo(VmState.Stopped);
        Assert.False(machine.TryMove(VmState.Running, out var from));
        Assert.Equal(VmState.Stopped, from);
        Assert.Equal([(VmState.Created, VmState.Running), (VmState.Running, VmState.Paused), (VmState.Paused, VmState.Saving),
            (VmState.Saving, VmState.Saved), (VmState.Saved, VmState.Stopped)], seen);
    }
}
