using Sharpvisor.Api.Firecracker.Http;
using Sharpvisor.Api.Firecracker.MicroVm;
using Sharpvisor.Api.Firecracker.Model;

namespace Sharpvisor.Api.Firecracker;

/// <summary>
/// --config-file: the JSON GET /vm/config answers, applied resource by resource with the same checks as the API, then
/// InstanceStart. Any fault stops it, naming the resource.
/// </summary>
public static class ConfigFileBoot
{
    public static void Apply(string path, MicroVmController vm, FirecrackerLog log, FirecrackerMetrics metrics)
    {
        byte[] json;
        try
        {
            json = File.ReadAllBytes(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new ApiFaultException($"cannot read the config file {path}: {e.Message}");
        }
        var config = StrictJsonBody.Read<FullVmConfiguration>(json, $"config file {path}");
        if (config.CpuConfig is not null) throw new ApiFaultException("'cpu-config': custom CPU templates are not supported by Sharpvisor");
        Step("logger", () =>
        {
            if (config.Logger is not { } logger) return;
            log.Configure(logger.LogPath, logger.Level is { } level ? FirecrackerLog.ParseLevel(level) : null, logger.ShowLevel);
            vm.Resources.Logger = logger;
        });
        Step("metrics", () =>
        {
            if (config.Metrics is not { } m) return;
            metrics.Configure(m.MetricsPath);
            vm.Resources.Metrics = m;
        });
        Step("machine-config", () => { if (config.MachineConfig is { } m) vm.Resources.SetMachine(m); });
        Step("boot-source", () => vm.Resources.SetBootSource(config.BootSource ?? throw new ApiFaultException("missing; the kernel must be named")));
        foreach (var drive in config.Drives) Step($"drives '{drive.DriveId}'", () => vm.Resources.PutDrive(drive.DriveId, drive));
        foreach (var nic in config.NetworkInterfaces) Step($"network-interfaces '{nic.IfaceId}'", () => vm.Resources.PutInterface(nic.IfaceId, nic));
        Step("mmds-config", () => { if (config.MmdsConfig is { } m) vm.Resources.SetMmdsConfig(m); });
        Step("balloon", () => { if (config.Balloon is { } b) vm.Resources.SetBalloon(b); });
        Step("vsock", () => { if (config.Vsock is { } v) vm.Resources.SetVsock(v); });
        Step("entropy", () => { if (config.Entropy is { } e) vm.Resources.SetEntropy(e); });
        vm.InstanceStart();
    }

    private static void Step(string resource, Action apply)
    {
        try
        {
            apply();
        }
        catch (ApiFaultException e)
        {
            throw new ApiFaultException($"config file, {resource}: {e.Message}");
        }
    }
}
