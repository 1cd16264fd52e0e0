using Sharpvisor.Api.Firecracker.Http;
using Sharpvisor.Api.Firecracker.MicroVm;
using Sharpvisor.Vmm.Lifecycle;

namespace Sharpvisor.Api.Firecracker;

/// <summary>
/// One `sharpvisor firecracker` process: the API socket (unless --no-api), the config file's boot (if given), and the
/// wait for the microVM's run to end (the process ends with it, as Firecracker's does) or for a stop from outside.
/// </summary>
public static class FirecrackerProcess
{
    public static FirecrackerExit Run(FirecrackerOptions options, Stream? consoleInput, Stream consoleOutput, CancellationToken stop)
    {
        if (options.NoApi && options.ConfigFile is null) return new(FirecrackerExit.Kind.BadArguments, "--no-api needs --config-file (there would be no way to configure the microVM)");
        if (!options.NoApi && options.ApiSocket is null) return new(FirecrackerExit.Kind.BadArguments, "--api-sock PATH is needed (or --no-api with --config-file)");
        using var log = new FirecrackerLog(options.Id);
        try
        {
            log.Configure(options.LogPath, options.Level is { } level ? FirecrackerLog.ParseLevel(level) : null, showLevel: null);
        }
        catch (ApiFaultException e)
        {
            return new(FirecrackerExit.Kind.BadArguments, e.Message);
        }
        using var vm = new MicroVmController(options.Id, consoleInput, consoleOutput, log, options.BootTimer);
        using var metrics = new FirecrackerMetrics(vm.SampleMetrics);
        FirecrackerApiServer? server = null;
        try
        {
            if (!options.NoApi)
            {
                var routes = ApiRouteTable.Create(vm, log, metrics, vm.Mmds);
                server = FirecrackerApiServer.StartAsync(options.ApiSocket!, new ApiDispatcher(routes)).GetAwaiter().GetResult();
                log.Info($"API server listening on {options.ApiSocket}");
            }
            if (options.ConfigFile is { } file)
            {
                try
                {
                    ConfigFileBoot.Apply(file, vm, log, metrics);
                }
                catch (ApiFaultException e)
                {
                    return new(FirecrackerExit.Kind.BadArguments, e.Message);
                }
            }
            using var onStop = stop.Register(() => vm.Stop("stopped from outside"));
            try
            {
                // Before InstanceStart there is no run to end: only a stop from outside ends the process.
                Task.WaitAny([vm.Ended], stop);
                var result = vm.Ended.GetAwaiter().GetResult();
                log.Info($"the microVM ended: {result.Message}");
                return new(result.Outcome == VmOutcome.Stopped ? FirecrackerExit.Kind.Stopped : FirecrackerExit.Kind.VmEnded, result.Message, result.Outcome);
            }
            catch (OperationCanceledException)
            {
                // Stopped before it started, or while the stopped VM winds down: give a started VM a moment to end.
                if (vm.RunningVm is not null && vm.Ended.Wait(TimeSpan.FromSeconds(10)))
                    return new(FirecrackerExit.Kind.Stopped, vm.Ended.Result.Message, vm.Ended.Result.Outcome);
                return new(FirecrackerExit.Kind.Stopped, "stopped from outside");
            }
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or UnauthorizedAccessException)
        {
            return new(FirecrackerExit.Kind.VmmError, $"cannot serve the API on {options.ApiSocket}: {e.Message}");
        }
        finally
        {
            server?.DisposeAsync().AsTask().GetAwaiter().GetResult();
        }
    }
}
