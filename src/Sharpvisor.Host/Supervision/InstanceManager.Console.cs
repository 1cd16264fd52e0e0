using Sharpvisor.Host.SerialConsole;
using Sharpvisor.Host.Instances;

namespace Sharpvisor.Host.Supervision;

public sealed partial class InstanceManager
{
    /// <summary>The newest console output of the VM (kept across guest reboots and VMM restarts); reading it consumes nothing.</summary>
    public byte[] ConsoleLog(string name)
    {
        Get(name);
        return Runtime(name).ConsoleLog.Read();
    }

    /// <summary>Attaches a viewer to the running VM's console: its output from now on, and a way to type into the guest.</summary>
    public (ConsoleSubscription Output, Func<ReadOnlyMemory<byte>, CancellationToken, Task> Input) AttachConsole(string name)
    {
        var record = Get(name);
        var runtime = Runtime(name);
        if (!InstanceStatusNames.HasProcess(record.Status) || runtime.Console is not { } relay)
            throw HostException.Conflict($"instance '{name}' is {InstanceStatusNames.Format(record.Status)}: its console is live only while it runs");
        return (relay.Attach(), relay.WriteAsync);
    }
}
