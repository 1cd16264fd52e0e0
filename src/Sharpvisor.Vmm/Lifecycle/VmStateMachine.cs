namespace Sharpvisor.Vmm.Lifecycle;

/// <summary>
/// A VM's <see cref="VmState"/> and the only moves allowed between states, as a table:
/// created -> running | paused | stopped; running -> paused | migrating | stopped; paused -> running | saving |
/// migrating | stopped; saving -> saved | paused (the save failed); saved -> running | paused | stopped;
/// migrating -> running | paused (cancelled or failed: back as it was) | stopped (handed over); stopped is final. Thread-safe.
/// </summary>
public sealed class VmStateMachine
{
    private static readonly Dictionary<VmState, VmState[]> Allowed = new()
    {
        [VmState.Created] = [VmState.Running, VmState.Paused, VmState.Stopped],
        [VmState.Running] = [VmState.Paused, VmState.Migrating, VmState.Stopped],
        [VmState.Paused] = [VmState.Running, VmState.Saving, VmState.Migrating, VmState.Stopped],
        [VmState.Saving] = [VmState.Saved, VmState.Paused],
        [VmState.Saved] = [VmState.Running, VmState.Paused, VmState.Stopped],
        [VmState.Migrating] = [VmState.Running, VmState.Paused, VmState.Stopped],
        [VmState.Stopped] = [],
    };

    private readonly Lock _lock = new();
    private VmState _state = VmState.Created;

    public VmState State
    {
        get { lock (_lock) return _state; }
    }

    /// <summary>Raised after every change, with the old and the new state, on the thread that made it.</summary>
    public event Action<VmState, VmState>? Changed;

    public static bool IsAllowed(VmState from, VmState to) => Allowed[from].Contains(to);

    /// <summary>Moves to <paramref name="to"/>; throws <see cref="InvalidVmTransitionException"/> if the table forbids it.</summary>
    public void MoveTo(VmState to)
    {
        if (!TryMove(to, out var from)) throw new InvalidVmTransitionException(from, to);
    }

    /// <summary>Moves to <paramref name="to"/> only if that is allowed now; <paramref name="from"/> is the state before.</summary>
    public bool TryMove(VmState to, out VmState from)
    {
        lock (_lock)
        {
            from = _state;
            if (!IsAllowed(from, to)) return false;
            _state = to;
        }
        Changed?.Invoke(from, to);
        return true;
    }

    /// <summary>Moves from exactly <paramref name="from"/> to <paramref name="to"/>, else throws.</summary>
    public void MoveFrom(VmState from, VmState to)
    {
        lock (_lock)
        {
            if (_state != from || !IsAllowed(from, to)) throw new InvalidVmTransitionException(_state, to);
            _state = to;
        }
        Changed?.Invoke(from, to);
    }
}
