using Sharpvisor.Engines;

namespace Sharpvisor.Vmm.Lifecycle;

/// <summary>
/// One boot's vCPU threads: each runs its vCPU until the stop latch is set, turning exits into the latch's outcome,
/// and parks between two Run calls when asked, so a paused machine has no vCPU inside the guest.
/// </summary>
internal sealed class VcpuThreads
{
    private readonly IReadOnlyList<IVcpu> _vcpus;
    private readonly StopLatch _stop;
    private readonly Thread[] _threads;
    // _parkRequested, _parked and _running are guarded by _lock; threads wait on it while parked.
    private readonly object _lock = new();
    private bool _parkRequested;
    private int _parked;
    private int _running;

    public VcpuThreads(IReadOnlyList<IVcpu> vcpus, StopLatch stop)
    {
        _vcpus = vcpus;
        _stop = stop;
        _threads = new Thread[vcpus.Count];
    }

    /// <summary>Starts a thread per vCPU; with <paramref name="parked"/> they park before entering the guest.</summary>
    public void Start(bool parked)
    {
        _stop.Triggered += KickAll;
        _stop.Triggered += WakeParked;
        _parkRequested = parked;
        _running = _vcpus.Count;
        for (int i = 0; i < _vcpus.Count; i++)
        {
            var vcpu = _vcpus[i];
            _threads[i] = new Thread(() => Loop(vcpu)) { IsBackground = true, Name = $"vCPU {i}" };
            _threads[i].Start();
        }
    }

    /// <summary>Parks every vCPU between two instructions; false if the machine stopped meanwhile.</summary>
    public bool ParkAll()
    {
        lock (_lock) _parkRequested = true;
        while (true)
        {
            KickAll(); // repeated: a kick can race with a thread just entering the guest
            lock (_lock)
            {
                if (_stop.IsSet) return false;
                if (_parked == _running) return true;
                Monitor.Wait(_lock, 10);
            }
        }
    }

    /// <summary>Lets parked vCPUs enter the guest again.</summary>
    public void Unpark()
    {
        lock (_lock)
        {
            _parkRequested = false;
            Monitor.PulseAll(_lock);
        }
    }

    /// <summary>Waits for every vCPU thread to leave the guest (after the stop latch is set).</summary>
    public void Join()
    {
        foreach (var t in _threads)
        {
            if (t is null) continue;
            while (!t.Join(100)) KickAll(); // a kick can race with a thread just entering the guest; repeat it
        }
    }

    /// <summary>Leaves the stop latch's listeners: the latch outlives this boot's vCPUs.</summary>
    public void Detach()
    {
        _stop.Triggered -= KickAll;
        _stop.Triggered -= WakeParked;
    }

    private void Loop(IVcpu vcpu)
    {
        try
        {
            while (!_stop.IsSet)
            {
                if (Volatile.Read(ref _parkRequested))
                {
                    ParkWhileRequested();
                    continue;
                }
                var exit = vcpu.Run();
                if (OutcomeOf(exit, vcpu.Index) is { } outcome) _stop.TrySet(outcome);
                else if (exit.Reason == VcpuExitReason.Halted)
                    _stop.WaitHandle.WaitOne(1); // an engine without an in-kernel halt: poll gently
            }
        }
        catch (Exception e)
        {
            _stop.TrySet(new(VmOutcome.VmmError, $"vCPU {vcpu.Index}: {e.Message}"));
        }
        finally
        {
            lock (_lock)
            {
                _running--;
                Monitor.PulseAll(_lock);
            }
        }
    }

    /// <summary>How an exit ends the boot, or null for exits the loop just continues after (kick, halt).</summary>
    private static StopLatch.Reason? OutcomeOf(VcpuExit exit, int index) => exit.Reason switch
    {
        VcpuExitReason.PowerOff => new(VmOutcome.PoweredOff, "the guest powered off"),
        VcpuExitReason.Reset => new(VmOutcome.ResetRequested, "the guest reset the machine", Reboot: true),
        VcpuExitReason.Shutdown or VcpuExitReason.Failed =>
            new(VmOutcome.GuestCrashed, exit.Report ?? $"vCPU {index} stopped: {exit.Reason}"),
        _ => null,
    };

    private void ParkWhileRequested()
    {
        lock (_lock)
        {
            _parked++;
            Monitor.PulseAll(_lock);
            while (_parkRequested && !_stop.IsSet) Monitor.Wait(_lock);
            _parked--;
        }
    }

    private void KickAll()
    {
        foreach (var v in _vcpus) v?.Kick();
    }

    private void WakeParked()
    {
        lock (_lock) Monitor.PulseAll(_lock);
    }
}
