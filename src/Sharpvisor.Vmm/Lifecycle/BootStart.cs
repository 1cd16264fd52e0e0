using Sharpvisor.Engines;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Migration;
using Sharpvisor.Vmm.Networking;
using Sharpvisor.Vmm.Snapshots;

namespace Sharpvisor.Vmm.Lifecycle;

/// <summary>
/// How one boot's machine comes to be, in one of three ways: built and loaded with the kernel, restored from a
/// snapshot, or received from a live migration (built from the configuration, filled by the stream, then
/// acknowledged to the source). Every failure comes back as an outcome and a message, never as an exception; the
/// source of a migration is told why it was refused.
/// </summary>
/// <param name="config">Read at each boot: the VM's disks may have moved onto overlays since the last one.</param>
internal sealed class BootStart(Func<VmConfig> config, IEngine engine, NetworkBackends networks, DeviceStateRegistry deviceStates,
    Throttling.IoThrottles? throttles = null)
{
    public sealed record Failure(VmOutcome Outcome, string Message);

    public (MachineInstance? Machine, Failure? Failure) Build(byte[] kernel, byte[] initrd, Action<byte> serialOutput,
        StopLatch latch, LoadedSnapshot? restore, ReceivedMigration? incoming)
    {
        MachineInstance machine;
        try
        {
            machine = new MachineInstance(config(), engine, networks, kernel, initrd, serialOutput, latch, restore, incoming,
                deviceStates: deviceStates, throttles: throttles);
        }
        catch (Exception e)
        {
            string what = restore is not null ? $"cannot restore the snapshot in {restore.Directory}"
                : incoming is not null ? $"cannot build the VM that migrated from {incoming.Source}" : "cannot build the machine";
            incoming?.Refuse($"{what}: {e.Message}");
            return (null, new(VmOutcome.VmmError, $"{what}: {e.Message}"));
        }
        if (incoming is null) return (machine, null);
        var failure = incoming.HasArrived ? null : Receive(machine, incoming, latch);
        if (failure is null)
        {
            try
            {
                incoming.Acknowledge();
            }
            catch (MigrationException e)
            {
                failure = new(VmOutcome.VmmError, e.Message);
            }
        }
        if (failure is null) return (machine, null);
        machine.Dispose();
        return (null, failure);
    }

    /// <summary>
    /// The rest of an incoming migration, into a machine already built from its configuration: while the pages arrive
    /// the restore path is warmed on a thread of its own; then the state is loaded. A stop cancels it.
    /// </summary>
    private static Failure? Receive(MachineInstance machine, ReceivedMigration incoming, StopLatch latch)
    {
        try
        {
            var warmUp = MigrationWarmUp.OnOwnThread(machine.WarmUpRestorePath);
            using var cancel = new CancellationTokenSource();
            Action onStop = cancel.Cancel;
            latch.Triggered += onStop;
            try
            {
                if (latch.IsSet) cancel.Cancel();
                incoming.ReceiveInto(machine.Memory, cancel.Token);
            }
            finally
            {
                latch.Triggered -= onStop;
                // It touches vCPUs and devices: done before the real state goes in (or the machine goes away). A
                // warm-up that failed costs only time; the real restore reports its own errors.
                try { warmUp.Wait(); }
                catch (AggregateException) { }
            }
            machine.LoadState(incoming.Machine!);
            return null;
        }
        catch (Exception e) when (e is MigrationException or OperationCanceledException)
        {
            return latch.IsSet ? new(VmOutcome.Stopped, latch.Value!.Message)
                : new(VmOutcome.VmmError, $"the incoming migration failed: {e.Message}");
        }
        catch (Exception e) when (e is SnapshotException or EngineException)
        {
            string what = $"cannot load the state of the VM that migrated from {incoming.Source}: {e.Message}";
            incoming.Refuse(what);
            return new(VmOutcome.VmmError, what);
        }
    }
}
