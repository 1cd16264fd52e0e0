using Sharpvisor.Host.SerialConsole;
using Sharpvisor.Host.Instances;
using Sharpvisor.Host.Operations;
using Sharpvisor.Vmm.Lifecycle;

namespace Sharpvisor.Host.Supervision;

public sealed partial class InstanceManager
{
    private static readonly TimeSpan VmmStartTimeout = TimeSpan.FromSeconds(60);
    private static readonly TimeSpan ForcedStopWait = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan MaxRestartBackoff = TimeSpan.FromMinutes(1);

    /// <summary>Starts a stopped or crashed VM: a new VMM process boots its definition.</summary>
    public Operation Start(string name) => StartLeased(name, "a start", $"start {name}", runtime =>
    {
        var record = Get(name);
        if (InstanceStatusNames.HasProcess(record.Status))
            throw HostException.Conflict($"instance '{name}' is already {InstanceStatusNames.Format(record.Status)}");
        return _ => BootAsync(runtime, userAction: true);
    });

    /// <summary>
    /// Stops a VM. Without <paramref name="force"/> the guest gets the ACPI power button and <paramref name="timeout"/>
    /// to power off; then (or at once with force) the VMM is told to stop, and killed if it has not ended 10 s later.
    /// </summary>
    public Operation Stop(string name, bool force, TimeSpan? timeout) => StartLeased(name, "a stop", $"stop {name}", runtime =>
    {
        var record = Get(name);
        if (record.Status == InstanceStatus.Crashed)
        {
            // Nothing runs; stopping a crashed VM clears its crash (and keeps the policy from restarting it).
            var cleared = Update(record, r => r with { Status = InstanceStatus.Stopped, StatusReason = $"stopped by a user after: {r.StatusReason}" });
            Events.Publish("lifecycle", "instance-stopped", name, "stopped", cleared.StatusReason);
            return _ => Task.CompletedTask;
        }
        if (!InstanceStatusNames.HasProcess(record.Status)) throw HostException.Conflict($"instance '{name}' is not running (it is {InstanceStatusNames.Format(record.Status)})");
        return _ => StopAsync(runtime, force, timeout ?? _options.GracefulStopTimeout, "a user");
    });

    public Operation Restart(string name, bool force, TimeSpan? timeout) => StartLeased(name, "a restart", $"restart {name}", runtime =>
    {
        var record = Get(name);
        if (!InstanceStatusNames.HasProcess(record.Status)) throw HostException.Conflict($"instance '{name}' is not running (it is {InstanceStatusNames.Format(record.Status)})");
        return async _ =>
        {
            await StopAsync(runtime, force, timeout ?? _options.GracefulStopTimeout, "a restart").ConfigureAwait(false);
            await BootAsync(runtime, userAction: true).ConfigureAwait(false);
        };
    });

    /// <summary>
    /// Takes the VM's action lock at once (409 when another action holds it), runs <paramref name="prepare"/> (the
    /// checks and store writes that come before the 202), then the work it returns as an operation, which holds the
    /// lock until it ends. A refusal in <paramref name="prepare"/> lets the lock go at once.
    /// </summary>
    private Operation StartLeased(string name, string action, string description, Func<InstanceRuntime, Func<Operation, Task>> prepare)
    {
        var runtime = Runtime(name);
        var lease = runtime.Begin(action);
        try
        {
            var work = prepare(runtime);
            return Operations.Start(description, name, async operation =>
            {
                using (lease) await work(operation).ConfigureAwait(false);
            });
        }
        catch
        {
            lease.Dispose();
            throw;
        }
    }

    public Task<InstanceRecord> PauseAsync(string name) => ControlAsync(name, "a pause", "pause", InstanceStatus.Running, InstanceStatus.Paused, "instance-paused");

    public Task<InstanceRecord> ResumeAsync(string name) => ControlAsync(name, "a resume", "resume", InstanceStatus.Paused, InstanceStatus.Running, "instance-resumed");

    /// <summary>Resets the machine (it boots again in the same VMM), as QEMU's system_reset.</summary>
    public Task<InstanceRecord> ResetAsync(string name) => ControlAsync(name, "a reset", "reset", null, InstanceStatus.Running, "instance-reset");

    private async Task<InstanceRecord> ControlAsync(string name, string action, string command, InstanceStatus? from, InstanceStatus to, string eventAction)
    {
        using var lease = Runtime(name).Begin(action);
        var record = Get(name);
        bool allowed = from is { } required ? record.Status == required : record.Status is InstanceStatus.Running or InstanceStatus.Paused;
        if (!allowed) throw HostException.Conflict($"instance '{name}' is {InstanceStatusNames.Format(record.Status)}; {command} needs it {(from is { } f ? InstanceStatusNames.Format(f) : "running or paused")}");
        try
        {
            await VmmControl.SendAsync(_options.Paths.ControlSocket(name), command, TimeSpan.FromSeconds(30)).ConfigureAwait(false);
        }
        catch (VmmControlException e)
        {
            throw HostException.Conflict($"instance '{name}': the VMM refused {command}: {e.Message}");
        }
        var updated = Update(record, r => r with { Status = to, StatusReason = "" });
        Events.Publish("lifecycle", eventAction, name, InstanceStatusNames.Format(to), $"{command} {name}");
        return updated;
    }

    /// <summary>Launches a VMM booting the VM's definition, and waits until its control socket answers. The caller holds the action lock.</summary>
    private async Task BootAsync(InstanceRuntime runtime, bool userAction)
    {
        var record = Get(runtime.Name);
        var (command, readable) = await VmmCommandLine.BootAsync(_options, record.Definition).ConfigureAwait(false);
        await LaunchAsync(runtime, record, command, readable, userAction, "instance-started").ConfigureAwait(false);
    }

    private async Task LaunchAsync(InstanceRuntime runtime, InstanceRecord record, List<string> command, List<string> readable, bool userAction,
        string eventAction)
    {
        var process = await LaunchProcessAsync(runtime, record, command, readable, userAction).ConfigureAwait(false);
        await AwaitRunningAsync(runtime, process, VmmStartTimeout, eventAction).ConfigureAwait(false);
    }

    /// <summary>Checks capacity, records the start, launches the VMM and starts watching it. The caller holds the action lock.</summary>
    private async Task<VmmProcess> LaunchProcessAsync(InstanceRuntime runtime, InstanceRecord record, List<string> command, List<string> readable, bool userAction)
    {
        string name = record.Name;
        await _admissionLock.WaitAsync().ConfigureAwait(false);
        try { Admit(record.Definition, except: name); } // the host may have shrunk since it was created (--host-memory, ratios)
        finally { _admissionLock.Release(); }
        PrepareFolder(name);
        File.Delete(_options.Paths.ExitReport(name)); // an old report must not explain the new process's end
        record = Update(record, r => r with
        {
            Status = InstanceStatus.Starting, StatusReason = "", Process = null, StartedAt = DateTimeOffset.UtcNow,
            AutomaticRestarts = userAction ? 0 : r.AutomaticRestarts,
        });
        VmmProcess process;
        try
        {
            process = _launcher.Launch(new VmmLaunch
            {
                VmName = name, VmDirectory = _options.Paths.InstanceDirectory(name), Command = command, LogPath = _options.Paths.VmmLog(name),
                ReadablePaths = [.. readable, .. record.Definition.Disks.Where(d => d.ReadOnly).Select(d => d.Path), .. InstanceDiskLayers.BackingFiles(record.Definition)],
                WritablePaths = record.Definition.Disks.Where(d => !d.ReadOnly).Select(d => d.Path).ToList(),
                Vcpus = record.Definition.VcpuCount, GuestMemoryBytes = record.Definition.MemoryBytes, CpuWeight = record.Definition.CpuWeight,
                Taps = [.. record.Definition.Networks.Select(n => n.Tap), .. NetworkTaps(_options.Paths, record.Definition).Select(t => t.Tap)],
                TapBridges = NetworkTaps(_options.Paths, record.Definition).ToDictionary(t => t.Tap, t => t.Bridge),
            });
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or UnauthorizedAccessException or ArgumentException or System.ComponentModel.Win32Exception)
        {
            Update(name, r => r with { Status = InstanceStatus.Crashed, StatusReason = $"the VMM could not be started: {e.Message}" });
            throw new HostException(500, $"instance '{name}': the VMM could not be started: {e.Message}");
        }
        runtime.EndRequestedBy = null;
        runtime.Process = process;
        Update(name, r => r with { Process = process.Info });
        runtime.Ended = WatchAsync(runtime, process);
        return process;
    }

    /// <summary>Attaches the console and waits until the VMM's control socket answers; then the VM is running (or paused).</summary>
    private async Task AwaitRunningAsync(InstanceRuntime runtime, VmmProcess process, TimeSpan timeout, string eventAction)
    {
        string name = runtime.Name;
        runtime.Console = await ConnectConsoleAsync(runtime, process, timeout).ConfigureAwait(false);
        string? state = await VmmControl.WaitForStatusAsync(_options.Paths.ControlSocket(name), timeout, () => !process.HasExited).ConfigureAwait(false);
        if (state is null)
        {
            if (!process.HasExited) process.Kill();
            await runtime.Ended.ConfigureAwait(false);
            throw new HostException(500, $"instance '{name}': the VMM ended while starting: {Get(name).StatusReason}");
        }
        var status = state.StartsWith("paused", StringComparison.Ordinal) ? InstanceStatus.Paused : InstanceStatus.Running;
        Update(name, r => r.Process?.Pid == process.Pid && InstanceStatusNames.HasProcess(r.Status) ? r with { Status = status } : r);
        Events.Publish("lifecycle", eventAction, name, InstanceStatusNames.Format(status), $"{name}: VMM {process.Pid} {state}");
    }

    private async Task<ConsoleRelay?> ConnectConsoleAsync(InstanceRuntime runtime, VmmProcess process, TimeSpan timeout)
    {
        try
        {
            return await ConsoleRelay.ConnectAsync(_options.Paths.ConsoleSocket(runtime.Name), runtime.ConsoleLog, timeout, () => !process.HasExited).ConfigureAwait(false);
        }
        catch (System.Net.Sockets.SocketException)
        {
            return null; // the VMM ended before it listened: its watcher records why
        }
    }

    /// <summary>Ends the VM's VMM and waits until its end is recorded. The caller holds the action lock.</summary>
    private async Task StopAsync(InstanceRuntime runtime, bool force, TimeSpan gracefulTimeout, string requestedBy)
    {
        if (runtime.Process is not { } process) return;
        runtime.EndRequestedBy = requestedBy;
        string control = _options.Paths.ControlSocket(runtime.Name);
        Update(runtime.Name, r => r with { Status = InstanceStatus.Stopping });
        if (!force && await TrySendAsync(control, "powerdown").ConfigureAwait(false))
            await Task.WhenAny(process.Exited, Task.Delay(gracefulTimeout)).ConfigureAwait(false);
        if (!process.HasExited)
        {
            await TrySendAsync(control, "stop").ConfigureAwait(false);
            await Task.WhenAny(process.Exited, Task.Delay(ForcedStopWait)).ConfigureAwait(false);
        }
        if (!process.HasExited) process.Kill();
        await runtime.Ended.ConfigureAwait(false);
    }

    private static async Task<bool> TrySendAsync(string control, string command)
    {
        try
        {
            await VmmControl.SendAsync(control, command, TimeSpan.FromSeconds(10)).ConfigureAwait(false);
            return true;
        }
        catch (VmmControlException)
        {
            return false;
        }
    }

    /// <summary>
    /// Waits for a VMM to end, records how (stopped, powered off, crashed and why), and applies the restart policy.
    /// Runs beside the actions: it never takes the action lock to record the end, only to restart.
    /// </summary>
    private async Task WatchAsync(InstanceRuntime runtime, VmmProcess process)
    {
        int? exitCode = await process.Exited.ConfigureAwait(false);
        string name = runtime.Name;
        runtime.Console?.Dispose();
        runtime.Console = null;
        if (runtime.Process == process) runtime.Process = null;
        var (status, reason, failed) = EndOf(name, process, exitCode, runtime.EndRequestedBy);
        _launcher.Release(process.Info);
        if (_store.FindInstance(name) is not { } record || record.Process?.Pid != process.Pid) return; // deleted or moved on
        var ended = Update(record, r => r with { Status = status, StatusReason = reason, Process = null });
        Events.Publish("lifecycle", failed ? "instance-crashed" : "instance-stopped", name, InstanceStatusNames.Format(status), reason);
        bool restart = runtime.EndRequestedBy is null && ended.Definition.RestartPolicy switch
        {
            RestartPolicy.Always => true,
            RestartPolicy.OnFailure => failed,
            _ => false,
        };
        if (restart) _ = RestartByPolicyAsync(runtime, ended);
    }

    private (InstanceStatus Status, string Reason, bool Failed) EndOf(string name, VmmProcess process, int? exitCode, string? requestedBy)
    {
        var report = VmmExitReport.TryRead(_options.Paths.ExitReport(name), out string? reportProblem);
        if (requestedBy is not null) return (InstanceStatus.Stopped, $"stopped by {requestedBy}", false);
        if (_launcher.EndCause(process.Info) is { } cause) return (InstanceStatus.Crashed, cause, true);
        if (report is not null)
            return report.Outcome switch
            {
                VmOutcome.PoweredOff or VmOutcome.ResetRequested => (InstanceStatus.Stopped, $"the guest powered off: {report.Message}", false),
                VmOutcome.Migrated => (InstanceStatus.Stopped, report.Message, false),
                _ => (InstanceStatus.Crashed, $"{report.Message} (exit code {report.ExitCode})", true),
            };
        string how = exitCode switch
        {
            null => "the VMM process ended without an exit report (killed by a signal, or it crashed)",
            > 128 and < 128 + 65 => $"the VMM process was killed by signal {exitCode - 128}{(exitCode == 137 ? " (SIGKILL)" : "")}",
            _ => $"the VMM process exited with code {exitCode} without an exit report",
        };
        return (InstanceStatus.Crashed, reportProblem is null ? how : $"{how}; {reportProblem}", true);
    }

    private async Task RestartByPolicyAsync(InstanceRuntime runtime, InstanceRecord ended)
    {
        var delay = TimeSpan.FromTicks(Math.Min(MaxRestartBackoff.Ticks, _options.RestartBackoff.Ticks << Math.Min(ended.AutomaticRestarts, 16)));
        try { await Task.Delay(delay, _shutdown.Token).ConfigureAwait(false); }
        catch (OperationCanceledException) { return; }
        using var lease = await runtime.BeginWhenFreeAsync("a restart by policy").ConfigureAwait(false);
        // A user may have started, stopped or deleted it meanwhile: only the record as it was ended is restarted.
        if (_store.FindInstance(runtime.Name) is not { } record || record.Revision != ended.Revision) return;
        Update(record, r => r with { AutomaticRestarts = r.AutomaticRestarts + 1 });
        Events.Publish("lifecycle", "instance-restarting", runtime.Name, InstanceStatusNames.Format(record.Status),
            $"restarting {runtime.Name} ({RestartPolicyNames.Format(record.Definition.RestartPolicy)}, after {delay.TotalSeconds:0.#} s): {record.StatusReason}");
        try { await BootAsync(runtime, userAction: false).ConfigureAwait(false); }
        catch (HostException) { } // recorded as crashed by the launch or its watcher
    }
}
