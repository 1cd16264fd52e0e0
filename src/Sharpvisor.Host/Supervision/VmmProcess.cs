using System.Diagnostics;
using Sharpvisor.Host.Instances;

namespace Sharpvisor.Host.Supervision;

/// <summary>
/// A running VMM: started by this daemon (its parent, so its exit code is known) or adopted from an earlier daemon
/// (then only its end is seen, by watching /proc; the VMM's exit report says why). <see cref="Exited"/> completes when
/// it has ended, with its exit code when this daemon is its parent.
/// </summary>
public sealed class VmmProcess
{
    private static readonly TimeSpan AdoptedPollInterval = TimeSpan.FromMilliseconds(200);

    private readonly Action? _kill;

    private VmmProcess(VmmProcessInfo info, Task<int?> exited, Action? kill = null)
    {
        Info = info;
        Exited = exited;
        _kill = kill;
    }

    /// <summary>A VMM whose launcher watches it and kills it its own way (a confined VMM, through its pidfd).</summary>
    public static VmmProcess Watched(VmmProcessInfo info, Task<int?> exited, Action kill) => new(info, exited, kill);

    public VmmProcessInfo Info { get; }
    public int Pid => Info.Pid;
    public Task<int?> Exited { get; }
    public bool HasExited => Exited.IsCompleted;

    public static VmmProcess Started(Process process, VmmProcessInfo info) =>
        new(info, WaitForChild(process));

    /// <summary>A VMM this daemon did not start; null when that process is gone (or the pid is someone else's now).</summary>
    public static VmmProcess? Adopt(VmmProcessInfo info) =>
        ProcessIdentity.IsAlive(info.Pid, info.StartTicks) ? new VmmProcess(info, WaitForAdopted(info)) : null;

    /// <summary>A VMM found already ended (while no daemon watched it).</summary>
    public static VmmProcess Gone(VmmProcessInfo info) => new(info, Task.FromResult<int?>(null));

    private static async Task<int?> WaitForChild(Process process)
    {
        using (process)
        {
            await process.WaitForExitAsync().ConfigureAwait(false);
            return process.ExitCode;
        }
    }

    private static async Task<int?> WaitForAdopted(VmmProcessInfo info)
    {
        while (ProcessIdentity.IsAlive(info.Pid, info.StartTicks)) await Task.Delay(AdoptedPollInterval).ConfigureAwait(false);
        return null;
    }

    /// <summary>SIGKILL, if it is still the process it was.</summary>
    public void Kill()
    {
        if (_kill is not null)
        {
            _kill();
            return;
        }
        if (!ProcessIdentity.IsAlive(Info.Pid, Info.StartTicks)) return;
        try { Process.GetProcessById(Info.Pid).Kill(); }
        catch (Exception e) when (e is ArgumentException or InvalidOperationException or System.ComponentModel.Win32Exception) { }
    }
}
