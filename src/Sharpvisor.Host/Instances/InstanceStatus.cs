namespace Sharpvisor.Host.Instances;

/// <summary>Where a VM is in its life, as the daemon records it.</summary>
public enum InstanceStatus
{
    /// <summary>Defined, no VMM process.</summary>
    Stopped,
    /// <summary>Its VMM process is being launched.</summary>
    Starting,
    Running,
    Paused,
    /// <summary>Asked to stop; its VMM has not ended yet.</summary>
    Stopping,
    /// <summary>Its VMM ended without being asked (the reason is kept); the restart policy may start it again.</summary>
    Crashed,
    /// <summary>Its memory is streaming to another host.</summary>
    Migrating,
}

public static class InstanceStatusNames
{
    public static string Format(InstanceStatus status) => status.ToString().ToLowerInvariant();

    /// <summary>States in which a VMM process exists.</summary>
    public static bool HasProcess(InstanceStatus status) =>
        status is InstanceStatus.Starting or InstanceStatus.Running or InstanceStatus.Paused or InstanceStatus.Stopping or InstanceStatus.Migrating;
}
