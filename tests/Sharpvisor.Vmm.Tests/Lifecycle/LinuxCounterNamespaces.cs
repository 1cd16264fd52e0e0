using System.Diagnostics;
using System.Runtime.InteropServices;
using Sharpvisor.Machine.Native;

namespace Sharpvisor.Vmm.Tests.Lifecycle;

/// <summary>
/// Two network namespaces joined by a veth pair (10.211.7.1/24 and 10.211.7.2/24), for a migration between "hosts".
/// Code runs in one of them on a thread of its own that joins the namespace with setns(2) (a thread's network
/// namespace is its own); a socket created there stays in that namespace whichever thread uses it later.
/// Deleting the namespaces removes the veth pair. Needs root: see <see cref="LinuxCounterRootFactAttribute"/>.
/// </summary>
internal sealed class LinuxCounterNamespaces : IDisposable
{
    public const string SourceAddress = "10.211.7.1", DestinationAddress = "10.211.7.2";
    private const int CloneNewNet = 0x40000000;

    public string Source { get; }
    public string Destination { get; }

    public LinuxCounterNamespaces()
    {
        string tag = $"{Environment.ProcessId % 100000}{Random.Shared.Next(100)}";
        Source = $"svlt-src-{tag}";
        Destination = $"svlt-dst-{tag}";
        string vethSource = $"svlt{tag}a", vethDestination = $"svlt{tag}b";
        try
        {
            Ip($"netns add {Source}");
            Ip($"netns add {Destination}");
            Ip($"link add {vethSource} type veth peer name {vethDestination}");
            Ip($"link set {vethSource} netns {Source}");
            Ip($"link set {vethDestination} netns {Destination}");
            Ip($"-n {Source} addr add {SourceAddress}/24 dev {vethSource}");
            Ip($"-n {Destination} addr add {DestinationAddress}/24 dev {vethDestination}");
            foreach (var (ns, dev) in new[] { (Source, vethSource), (Destination, vethDestination) })
            {
                Ip($"-n {ns} link set lo up");
                Ip($"-n {ns} link set {dev} up");
            }
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    /// <summary>Runs <paramref name="work"/> on a new thread inside the namespace <paramref name="name"/>.</summary>
    public static T RunIn<T>(string name, Func<T> work)
    {
        T? result = default;
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            try
            {
                using (var handle = File.OpenHandle($"/run/netns/{name}"))
                {
                    if (Libc.setns((int)handle.DangerousGetHandle(), CloneNewNet) != 0)
                        throw new InvalidOperationException($"setns into {name} failed: errno {Marshal.GetLastPInvokeError()}");
                }
                result = work();
            }
            catch (Exception e)
            {
                failure = e;
            }
        }) { IsBackground = true, Name = $"in netns {name}" };
        thread.Start();
        thread.Join();
        if (failure is not null) throw new AggregateException($"in the network namespace {name}", failure);
        return result!;
    }

    /// <summary>Why this machine cannot make the namespaces, or null when it can.</summary>
    public static string? WhyUnavailable()
    {
        if (!OperatingSystem.IsLinux()) return "network namespaces are Linux's";
        if (!Environment.IsPrivilegedProcess) return "creating network namespaces and a veth pair needs root";
        if (!File.Exists("/usr/sbin/ip") && !File.Exists("/sbin/ip") && !File.Exists("/usr/bin/ip") && !File.Exists("/bin/ip"))
            return "the ip tool (iproute2) is not installed";
        return null;
    }

    public void Dispose()
    {
        foreach (string ns in new[] { Source, Destination })
            if (File.Exists($"/run/netns/{ns}")) Ip($"netns del {ns}", check: false);
    }

    private static void Ip(string arguments, bool check = true)
    {
        var psi = new ProcessStartInfo("ip", arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        psi.Environment["PATH"] = "/usr/sbin:/sbin:" + Environment.GetEnvironmentVariable("PATH");
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("ip did not start");
        var error = process.StandardError.ReadToEndAsync();
        process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (check && process.ExitCode != 0)
            throw new InvalidOperationException($"ip {arguments} exited with {process.ExitCode}: {error.Result}");
    }
}
