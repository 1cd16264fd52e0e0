namespace Sharpvisor.Engines.Emulator.Memory;

/// <summary>
/// Lets another thread change a vCPU's TLB safely: the vCPU holds the gate while it runs a slice of guest code, and
/// applies pending requests each time it enters; a requester takes the gate itself, so it acts while the vCPU is
/// between slices (or halted, or stopped), never in the middle of an instruction. Used to take write rights from
/// every TLB when the dirty log is collected. Entering costs one uncontended lock per slice (about a millisecond of
/// guest code).
/// </summary>
public sealed class SliceGate(TranslationLookasideBuffer tlb)
{
    private readonly Lock _lock = new();
    private long _requestedEpoch, _appliedEpoch;
    private volatile int _waiters;

    /// <summary>The vCPU thread, before running guest code.</summary>
    public void Enter()
    {
        // A requester waiting for the gate goes first, so a vCPU re-entering at once cannot starve it.
        while (_waiters != 0) Thread.Yield();
        _lock.Enter();
        ApplyPending();
    }

    /// <summary>The vCPU thread, after a slice.</summary>
    public void Exit() => _lock.Exit();

    /// <summary>
    /// Takes write rights from every entry of the vCPU's TLB and returns once that is done: at once when the vCPU is
    /// not running guest code, else when its current slice ends. Any thread.
    /// </summary>
    public void DropWriteRights()
    {
        Interlocked.Increment(ref _requestedEpoch);
        Interlocked.Increment(ref _waiters);
        try
        {
            using (_lock.EnterScope()) ApplyPending();
        }
        finally
        {
            Interlocked.Decrement(ref _waiters);
        }
    }

    private void ApplyPending()
    {
        long requested = Interlocked.Read(ref _requestedEpoch);
        if (requested == _appliedEpoch) return;
        tlb.DropWriteRights();
        _appliedEpoch = requested;
    }
}
