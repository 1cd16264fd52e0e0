using Sharpvisor.Host.SerialConsole;

namespace Sharpvisor.Host.Supervision;

/// <summary>
/// What the daemon holds in memory for one VM: the lock that serializes actions on it (a second action while one runs
/// gets 409), its VMM process and console while one runs, and whether the VMM's coming end was asked for.
/// </summary>
internal sealed class InstanceRuntime(string name, ConsoleLog consoleLog)
{
    private readonly SemaphoreSlim _actionLock = new(1, 1);

    public string Name { get; } = name;
    public ConsoleLog ConsoleLog { get; } = consoleLog;
    /// <summary>The action running now, for the 409 a second one gets.</summary>
    public string? CurrentAction { get; private set; }

    public VmmProcess? Process { get; set; }
    public ConsoleRelay? Console { get; set; }
    /// <summary>Completes when the watcher of the current VMM has recorded its end.</summary>
    public Task Ended { get; set; } = Task.CompletedTask;
    /// <summary>Who asked the current VMM to end (a user's stop, a restore, a migration); null: its end is unexpected.</summary>
    public string? EndRequestedBy { get; set; }

    /// <summary>Takes the action lock at once or throws 409 naming the action that holds it.</summary>
    public ActionLease Begin(string action)
    {
        if (!_actionLock.Wait(0)) throw HostException.Conflict($"instance '{Name}' is busy: {CurrentAction ?? "an action"} is in progress");
        CurrentAction = action;
        return new ActionLease(this);
    }

    /// <summary>Waits for the action lock (the daemon's own work: restarts by policy, recovery).</summary>
    public async Task<ActionLease> BeginWhenFreeAsync(string action)
    {
        await _actionLock.WaitAsync().ConfigureAwait(false);
        CurrentAction = action;
        return new ActionLease(this);
    }

    internal void End()
    {
        CurrentAction = null;
        _actionLock.Release();
    }
}

/// <summary>Holding the action lock of one VM; disposing it lets the next action in.</summary>
internal sealed class ActionLease(InstanceRuntime runtime) : IDisposable
{
    private int _ended;
    public void Dispose()
    {
        if (Interlocked.Exchange(ref _ended, 1) == 0) runtime.End();
    }
}
