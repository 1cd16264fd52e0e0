using Sharpvisor.Engines;
using Sharpvisor.Vmm.Snapshots;

namespace Sharpvisor.Vmm.Lifecycle;

/// <summary>
/// A built machine's state to and from the records snapshots and migration carry: the guest clock, each vCPU, the
/// engine's own state and every device (<see cref="DeviceWalk"/>) through the VM's <see cref="DeviceStateRegistry"/>,
/// the same registry both ways. RAM is not here: it goes to its own file or stream.
/// </summary>
internal sealed class MachineStateTransfer(MachineInstance machine, DeviceStateRegistry deviceStates)
{
    /// <summary>Notes on what a restore left behind (engine-owned state the other engine keeps itself).</summary>
    public List<string> RestoreNotes { get; } = [];

    /// <summary>The machine's state for a snapshot (call while paused).</summary>
    public SnapshotManifest Capture()
    {
        var devices = machine.Devices().Select(site => deviceStates.For(site.Device) is { } codec
            ? codec.Save(site.Device, site.Key)
            : throw new SnapshotException($"the device {site.Description} ({site.Device.GetType().Name}) cannot be saved: it has no registered state record"));
        return new SnapshotManifest
        {
            CreatedUtc = DateTimeOffset.UtcNow,
            SourceEngine = machine.EngineKind,
            Config = machine.Config,
            ClockNanoseconds = machine.EngineVm.ReadClock(),
            Vcpus = machine.Vcpus.Select(v => v.GetState()).ToArray(),
            Devices = devices.ToArray(),
            EngineState = machine.EngineVm.SaveEngineState(),
            Memory = new MemoryImage { FileName = "", Regions = [], Sha256 = "" },
        };
    }

    /// <summary>Loads a manifest's clock, vCPUs, engine and device state into the machine (built, not started).</summary>
    public void Restore(SnapshotManifest manifest)
    {
        // The clock first, stopped, so the TSC the CPU records name is measured against the restored clock.
        var engineVm = machine.EngineVm;
        engineVm.PauseClock();
        engineVm.WriteClock(manifest.ClockNanoseconds);
        for (int i = 0; i < machine.Vcpus.Count; i++) machine.Vcpus[i].SetState(manifest.Vcpus[i]);
        if (manifest.EngineState.Length > 0)
        {
            if (manifest.SourceEngine == machine.EngineKind) engineVm.RestoreEngineState(manifest.EngineState);
            else RestoreNotes.Add($"the {manifest.SourceEngine} engine's own interrupt-controller and timer state stays behind; this engine starts its own afresh");
        }
        var here = machine.Devices().ToDictionary(d => d.Key);
        // Interrupt controllers first (engine-owned records: the emulator's IOAPIC; KVM's irqchip came with the engine
        // state above), then the devices wired to them, whose restore drives each line to the device's own level. The
        // other way round, the controller's saved pin levels overwrote the devices': COM1's pin is edge-triggered, so
        // a pin left high by input that reached the UART after its record was taken swallowed the next rising edge and
        // the console heard nothing more after the restore.
        foreach (var entry in manifest.Devices.OrderBy(e => deviceStates.For(e.Kind)?.EngineOwned == true ? 0 : 1))
        {
            var codec = deviceStates.For(entry.Kind)
                ?? throw new SnapshotException($"the snapshot holds a device of kind '{entry.Kind}' ({entry.Key}) that this build does not know");
            if (!here.TryGetValue(entry.Key, out var site) || codec.DeviceType != site.Device.GetType())
            {
                if (codec.EngineOwned)
                {
                    RestoreNotes.Add($"{entry.Kind} state of {entry.Key} belongs to the {manifest.SourceEngine} engine; this engine starts its own afresh");
                    continue;
                }
                throw new SnapshotException($"the snapshot has a {entry.Kind} device {entry.Key}, which this machine lacks (is its configuration the same?)");
            }
            codec.Restore(site.Device, entry);
        }
    }

    /// <summary>
    /// Runs the restore path once on the machine's own state while it is built and not started (an incoming
    /// migration receiving pages): the first restore in a process pays for loading and compiling the code of every
    /// device record and vCPU setter, and that should not fall into the migration's downtime. The real restore
    /// later overwrites everything this sets.
    /// </summary>
    public void WarmUp()
    {
        try
        {
            Restore(Capture());
        }
        catch (Exception e) when (e is SnapshotException or EngineException or InvalidOperationException or ArgumentException)
        {
            // Only the warm-up is lost: the real state comes with the stream.
        }
        RestoreNotes.Clear();
    }
}
