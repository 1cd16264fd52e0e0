namespace Sharpvisor.Vmm.Lifecycle;

/// <summary>The first reason to stop a running machine wins; everyone waiting learns it.</summary>
internal sealed class StopLatch
{
    public sealed record Reason(VmOutcome Outcome, string Message, int? DebugExitStatus = null, bool Reboot = false);

    private Reason? _reason;
    private readonly ManualResetEventSlim _set = new();

    public bool IsSet => _set.IsSet;
    public Reason? Value => Volatile.Read(ref _reason);
    public WaitHandle WaitHandle => _set.WaitHandle;

    public event Action? Triggered;

    public bool TrySet(Reason reason)
    {
        if (Interlocked.CompareExchange(ref _reason, reason, null) != null) return false;
        _set.Set();
        Triggered?.Invoke();
        return true;
    }

    public void Wait() => _set.Wait();
}
