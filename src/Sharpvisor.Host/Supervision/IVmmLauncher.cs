using Sharpvisor.Host.Instances;

namespace Sharpvisor.Host.Supervision;

/// <summary>Starts VMM processes for the daemon and knows what their confinement saw of their end.</summary>
public interface IVmmLauncher
{
    /// <summary>Starts the VMM detached from the daemon (its own session, output to its log), so either may outlive the other.</summary>
    VmmProcess Launch(VmmLaunch launch);

    /// <summary>Takes over VM <paramref name="name"/>'s VMM started by an earlier daemon; null when it is gone or is not that VMM.</summary>
    VmmProcess? Adopt(string name, VmmProcessInfo process);

    /// <summary>What the confinement knows of why the VMM ended (e.g. its memory limit's OOM kill); null when nothing.</summary>
    string? EndCause(VmmProcessInfo process);

    /// <summary>Releases what the launch set up for a VMM that has ended (its cgroup).</summary>
    void Release(VmmProcessInfo process);
}
