namespace Sharpvisor.Host.Instances;

/// <summary>
/// One VM as the store keeps it: its definition, where it is in its life and why, and (while a VMM process exists)
/// how to find that process again after a daemon restart. <see cref="Revision"/> rises with every change; an update
/// names the revision it read, so two writers never both win (the ETag of the API, an etcd mod revision later).
/// </summary>
public sealed record InstanceRecord
{
    public required InstanceDefinition Definition { get; init; }
    public InstanceStatus Status { get; init; } = InstanceStatus.Stopped;
    /// <summary>Why it is in <see cref="Status"/>: the crash reason, who stopped it.</summary>
    public string StatusReason { get; init; } = "";
    public VmmProcessInfo? Process { get; init; }
    public long Revision { get; init; }
    public DateTimeOffset CreatedAt { get; init; }
    public DateTimeOffset UpdatedAt { get; init; }
    /// <summary>When its current (or last) VMM process started.</summary>
    public DateTimeOffset? StartedAt { get; init; }
    /// <summary>Restarts the restart policy made since a user last started it (the backoff grows with it).</summary>
    public int AutomaticRestarts { get; init; }
    /// <summary>The host that runs it (one host for now; a cluster's member name later).</summary>
    public string Location { get; init; } = "";

    public string Name => Definition.Name;
}

/// <summary>How to recognise a VM's VMM process again: its pid, the kernel's start time of that pid (pids are reused) and its cgroup.</summary>
public sealed record VmmProcessInfo(int Pid, ulong StartTicks, string? Cgroup, int? Uid);
