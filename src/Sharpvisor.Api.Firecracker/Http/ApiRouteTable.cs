using Sharpvisor.Api.Firecracker.MicroVm;
using Sharpvisor.Api.Firecracker.Model;
using static Sharpvisor.Api.Firecracker.Http.ApiResponse;

namespace Sharpvisor.Api.Firecracker.Http;

/// <summary>
/// The whole API in one table, from (method, path) to what the microVM does, as Firecracker's parsed_request keeps it.
/// Pre-boot calls check <see cref="MicroVmController.RequireNotStarted"/>, runtime calls
/// <see cref="MicroVmController.RequireStarted"/>, each before touching anything.
/// </summary>
public static class ApiRouteTable
{
    public static IReadOnlyList<ApiRoute> Create(MicroVmController vm, FirecrackerLog log, FirecrackerMetrics metrics, MmdsDataStore mmds) =>
    [
        new("GET", "/", _ => Ok(vm.Describe())),
        new("GET", "/version", _ => Ok(new Dictionary<string, string> { ["firecracker_version"] = MicroVmController.ApiVersion })),
        new("GET", "/vm/config", _ => Ok(vm.FullConfiguration())),
        new("GET", "/machine-config", _ => Ok(vm.Resources.Machine)),
        new("PUT", "/machine-config", r => PreBoot(vm, () => vm.Resources.SetMachine(r.Json<MachineConfiguration>()))),
        new("PATCH", "/machine-config", r => PreBoot(vm, () => vm.Resources.SetMachine(r.Json<MachineConfigurationUpdate>().ApplyTo(vm.Resources.Machine)))),
        new("PUT", "/boot-source", r => PreBoot(vm, () => vm.Resources.SetBootSource(r.Json<BootSource>()))),
        new("PUT", "/drives/{id}", r => PreBoot(vm, () => vm.Resources.PutDrive(r.Id, r.Json<Drive>()))),
        new("PATCH", "/drives/{id}", r => Done(() => vm.PatchDrive(r.Id, r.Json<PartialDrive>()))),
        new("PUT", "/network-interfaces/{id}", r => PreBoot(vm, () => vm.Resources.PutInterface(r.Id, r.Json<NetworkInterface>()))),
        new("PATCH", "/network-interfaces/{id}", r => Done(() => vm.PatchInterface(r.Id, r.Json<PartialNetworkInterface>()))),
        new("PUT", "/actions", r => Act(vm, metrics, r.Json<InstanceActionInfo>().ActionType)),
        new("PATCH", "/vm", r => SetVmState(vm, r.Json<VmStateRequest>().State)),
        new("PUT", "/snapshot/create", r => Runtime(vm, () => vm.CreateSnapshot(r.Json<SnapshotCreateParams>()))),
        new("PUT", "/snapshot/load", r => Done(() => vm.LoadSnapshot(r.Json<SnapshotLoadParams>()))),
        new("GET", "/balloon", _ => Ok(vm.Balloon.Config())),
        new("PUT", "/balloon", r => PreBoot(vm, () => vm.Resources.SetBalloon(r.Json<Balloon>()))),
        new("PATCH", "/balloon", r => Runtime(vm, () => vm.Balloon.Update(r.Json<BalloonUpdate>()))),
        new("GET", "/balloon/statistics", _ => Ok(vm.Balloon.Statistics())),
        new("PATCH", "/balloon/statistics", r => Runtime(vm, () => vm.Balloon.UpdateStatistics(r.Json<BalloonStatsUpdate>()))),
        new("PUT", "/entropy", r => PreBoot(vm, () => vm.Resources.SetEntropy(r.Json<EntropyDevice>()))),
        new("PUT", "/logger", r => PreBoot(vm, () => ConfigureLogger(vm, log, r.Json<LoggerConfig>()))),
        new("PUT", "/metrics", r => PreBoot(vm, () => ConfigureMetrics(vm, metrics, r.Json<MetricsConfig>()))),
        new("PUT", "/vsock", r => PreBoot(vm, () => vm.Resources.SetVsock(r.Json<VsockDevice>()))),
        new("GET", "/mmds", _ => Ok(mmds.Value)),
        new("PUT", "/mmds", r => Done(() => mmds.Put(MmdsDataStore.Parse(r.Body, r.Name)))),
        new("PATCH", "/mmds", r => Done(() => mmds.Patch(MmdsDataStore.Parse(r.Body, r.Name)))),
        new("PUT", "/mmds/config", r => PreBoot(vm, () => vm.Resources.SetMmdsConfig(r.Json<MmdsConfig>()))),
    ];

    private static ApiResponse Done(Action action)
    {
        action();
        return NoContent;
    }

    private static ApiResponse PreBoot(MicroVmController vm, Action action)
    {
        vm.RequireNotStarted();
        return Done(action);
    }

    private static ApiResponse Runtime(MicroVmController vm, Action action)
    {
        vm.RequireStarted();
        return Done(action);
    }

    private static ApiResponse Act(MicroVmController vm, FirecrackerMetrics metrics, string action) => action switch
    {
        "InstanceStart" => Done(vm.InstanceStart),
        "SendCtrlAltDel" => Done(vm.SendCtrlAltDel),
        "FlushMetrics" => Runtime(vm, metrics.Flush),
        _ => Fault($"'action_type' must be InstanceStart, SendCtrlAltDel or FlushMetrics, not \"{action}\""),
    };

    private static ApiResponse SetVmState(MicroVmController vm, string state) => state switch
    {
        "Paused" => Done(vm.Pause),
        "Resumed" => Done(vm.Resume),
        _ => Fault($"'state' must be \"Paused\" or \"Resumed\", not \"{state}\""),
    };

    private static void ConfigureLogger(MicroVmController vm, FirecrackerLog log, LoggerConfig config)
    {
        var level = config.Level is { } text ? FirecrackerLog.ParseLevel(text) : (FirecrackerLog.Level?)null;
        log.Configure(config.LogPath, level, config.ShowLevel);
        vm.Resources.Logger = config;
    }

    private static void ConfigureMetrics(MicroVmController vm, FirecrackerMetrics metrics, MetricsConfig config)
    {
        metrics.Configure(config.MetricsPath);
        vm.Resources.Metrics = config;
    }
}
