using System.Text.Json;
using Sharpvisor.Engines;
using Sharpvisor.Machine.Cpu;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Snapshots;

namespace Sharpvisor.Vmm.Migration;

/// <summary>
/// The State section is written and read once per process, so its first use pays for the JSON serializer's
/// reflection and compilation: hundreds of milliseconds, all of it downtime. Both ends run the same path once with a
/// stand-in record on a thread of its own while pages are still being copied, off the critical path.
/// </summary>
internal static class MigrationWarmUp
{
    /// <summary>
    /// The source also saves each device's record once (thrown away): device records are read under the devices'
    /// own locks and saving changes nothing, so doing it while the VM runs is safe.
    /// </summary>
    public static Task StartForSource(Lifecycle.MachineInstance machine) => OnOwnThread(() =>
    {
        foreach (var site in machine.Devices())
        {
            try { machine.DeviceStates.For(site.Device)?.Save(site.Device, site.Key); }
            catch (InvalidOperationException) { } // a record read mid-change; only the warm-up is lost
        }
        WarmUpStateRecord(machine.Config);
    });

    public static Task Start(VmConfig config) => OnOwnThread(() => WarmUpStateRecord(config));

    /// <summary>
    /// For a destination waiting for its source (`run --incoming`): the first machine a process builds pays for
    /// loading and compiling the code of the engine, the devices, the configuration's JSON and the restore path, and
    /// the destination builds its machine while the source's first pages wait behind it (measured: about 300 ms of the
    /// migration's total time on this host). Building and discarding a small machine on <paramref name="engine"/>
    /// meanwhile moves that before the source connects. It has no disks or taps: those open host resources.
    /// </summary>
    public static Task StartForDestination(IEngine engine) => OnOwnThread(() =>
    {
        var config = new VmConfig { KernelPath = "", MemoryBytes = VmConfig.MinMemory, BalloonDevice = true };
        var hello = new MigrationHello { Config = config, SourceEngine = engine.Kind, Regions = [[0, config.MemoryBytes]] };
        JsonSerializer.Deserialize<MigrationHello>(JsonSerializer.SerializeToUtf8Bytes(hello, SnapshotFormat.Json), SnapshotFormat.Json);
        WarmUpStateRecord(config);
        try
        {
            using var networks = new Networking.NetworkBackends();
            using var machine = new Lifecycle.MachineInstance(config, engine, networks, [], [], _ => { }, new Lifecycle.StopLatch(), empty: true);
            machine.WarmUpRestorePath();
        }
        catch (EngineException)
        {
            // The engine cannot build a VM just now: only the warm-up is lost, and the real machine reports its own error.
        }
    });

    /// <summary>
    /// On a thread of its own, not the pool's: a pool busy with blocking work (a test host) would delay the warm-up by
    /// seconds, and the source waits for it before its second round.
    /// </summary>
    public static Task OnOwnThread(Action work) =>
        Task.Factory.StartNew(work, CancellationToken.None, TaskCreationOptions.LongRunning, TaskScheduler.Default);

    private static void WarmUpStateRecord(VmConfig config)
    {
        var sample = new MigrationMachineState
        {
            Machine = new SnapshotManifest
            {
                Config = config,
                Vcpus = [new CpuState { LocalApic = new byte[1024], Msrs = [new ModelSpecificRegister(0x10, 1)] }],
                Devices = [new DeviceStateEntry("warm-up", "warm-up", 1, JsonSerializer.SerializeToElement(new { Register = 1 }, SnapshotFormat.Json))],
                EngineState = new byte[16],
                Memory = new MemoryImage { FileName = "", Regions = [], Sha256 = "" },
            },
        };
        byte[] bytes = JsonSerializer.SerializeToUtf8Bytes(sample, SnapshotFormat.Json);
        JsonSerializer.Deserialize<MigrationMachineState>(bytes, SnapshotFormat.Json);
    }
}
