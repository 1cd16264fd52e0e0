using System.Diagnostics;
using Sharpvisor.Host.Instances;
using Sharpvisor.Host.Networks;

namespace Sharpvisor.Host.Supervision;

/// <summary>
/// Starts a VMM as the daemon's own user, unconfined, in a session of its own: through /bin/sh, which points its
/// standard streams at the VM's log (a pipe to the daemon would break when the daemon goes) and execs setsid, which
/// execs the VMM in place, so the pid the daemon sees is the VMM's.
/// </summary>
public sealed class DetachedVmmLauncher : IVmmLauncher
{
    public VmmProcess Launch(VmmLaunch launch)
    {
        // The taps of the daemon's networks must be ports of their bridges before the VMM opens them.
        foreach (var (tap, bridge) in launch.TapBridges) HostTap.Make(tap, uid: null, bridge);
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("log=$1; shift; exec setsid \"$@\" </dev/null >>\"$log\" 2>&1");
        start.ArgumentList.Add("sharpvisor-vmm");
        start.ArgumentList.Add(launch.LogPath);
        foreach (var argument in launch.Command) start.ArgumentList.Add(argument);
        var process = Process.Start(start) ?? throw new InvalidOperationException("the VMM process did not start");
        ulong? ticks = null;
        for (int i = 0; i < 50 && ticks is null; i++) ticks = ProcessIdentity.StartTicks(process.Id);
        if (ticks is null) throw new InvalidOperationException($"the VMM process {process.Id} ended at once (see {launch.LogPath})");
        return VmmProcess.Started(process, new VmmProcessInfo(process.Id, ticks.Value, Cgroup: null, Uid: null));
    }

    public VmmProcess? Adopt(string name, VmmProcessInfo process) => VmmProcess.Adopt(process);

    public string? EndCause(VmmProcessInfo process) => null;

    public void Release(VmmProcessInfo process) { }
}
