using Sharpvisor.Host.Instances;

namespace Sharpvisor.Host.Supervision;

public sealed partial class InstanceManager
{
    /// <summary>A VM whose VMM runs now, for the memory steward: its definition, its VMM's pid and control socket.</summary>
    internal readonly record struct RunningVmm(InstanceDefinition Definition, int Pid, string ControlSocket);

    /// <summary>The VMs running now (not paused, not between two VMMs).</summary>
    internal IReadOnlyList<RunningVmm> RunningVmms() =>
        _store.ListInstances()
            .Where(r => r.Status == InstanceStatus.Running)
            .Select(r => (Record: r, Process: _runtimes.TryGetValue(r.Definition.Name, out var runtime) ? runtime.Process : null))
            .Where(p => p.Process is { HasExited: false })
            .Select(p => new RunningVmm(p.Record.Definition, p.Process!.Pid, _options.Paths.ControlSocket(p.Record.Definition.Name)))
            .ToList();
}
