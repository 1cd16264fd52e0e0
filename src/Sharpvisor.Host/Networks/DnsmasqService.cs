using System.Diagnostics;
using System.Globalization;
using Sharpvisor.Host.Confinement;

namespace Sharpvisor.Host.Networks;

/// <summary>
/// One network's dnsmasq (Debian's dnsmasq-base): DHCP for the guest addresses of its subnet and DNS on the host's
/// address, bound to the network's bridge only, its leases in the network's folder. The daemon supervises it: it is
/// started again (after a pause that doubles, up to 30 s) whenever it ends without being asked to; a dnsmasq that
/// outlived a killed daemon is found by its pid file and ended before a new one starts.
/// </summary>
public sealed class DnsmasqService : IDisposable
{
    public const string Package = "dnsmasq-base";
    private static readonly TimeSpan MaxBackoff = TimeSpan.FromSeconds(30);

    private readonly NetworkDefinition _network;
    private readonly string _bridge;
    private readonly string _directory;
    private readonly Action<string> _report;
    private readonly CancellationTokenSource _stop = new();
    private Process? _process;
    private Task _supervision = Task.CompletedTask;

    public DnsmasqService(NetworkDefinition network, string bridge, string directory, Action<string> report)
    {
        _network = network;
        _bridge = bridge;
        _directory = directory;
        _report = report;
    }

    public string LeasesFile => Path.Combine(_directory, "leases");
    public string PidFile => PidFileIn(_directory);
    public string LogFile => Path.Combine(_directory, "dnsmasq.log");
    public int? Pid => _process is { HasExited: false } p ? p.Id : null;

    /// <summary>Why dnsmasq cannot run here (with the package to install), or null.</summary>
    public static string? WhyMissing() => HostTools.Find("dnsmasq") is null ? $"dnsmasq is not installed (apt-get install {Package})" : null;

    public void Start()
    {
        Directory.CreateDirectory(_directory);
        EndLeftover(_directory);
        _process = Launch();
        _supervision = SuperviseAsync();
    }

    private async Task SuperviseAsync()
    {
        var backoff = TimeSpan.FromSeconds(1);
        while (true)
        {
            var process = _process!;
            try { await process.WaitForExitAsync(_stop.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
            _report($"dnsmasq of network '{_network.Name}' ended (exit code {process.ExitCode}; see {LogFile}); starting it again in {backoff.TotalSeconds:0} s");
            process.Dispose();
            try { await Task.Delay(backoff, _stop.Token).ConfigureAwait(false); }
            catch (OperationCanceledException) { return; }
            backoff = TimeSpan.FromTicks(Math.Min(MaxBackoff.Ticks, backoff.Ticks * 2));
            try { _process = Launch(); }
            catch (Exception e) when (e is IOException or InvalidOperationException or System.ComponentModel.Win32Exception)
            {
                _report($"dnsmasq of network '{_network.Name}' could not be started again: {e.Message}");
            }
        }
    }

    private Process Launch()
    {
        var subnet = _network.ParsedSubnet;
        string host = Ipv4Subnet.Format(subnet.HostAddress);
        string mask = Ipv4Subnet.Format(subnet.Mask);
        // Through sh, which points its output at the log and execs it: no pipe to the daemon, whose end must not end it.
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        foreach (var argument in (string[])["-c", "log=$1; shift; exec \"$@\" </dev/null >>\"$log\" 2>&1", "sharpvisor-dnsmasq", LogFile,
                     HostTools.Find("dnsmasq") ?? throw new IOException(WhyMissing()),
                     "--keep-in-foreground", "--conf-file=/dev/null", "--log-facility=-", "--no-hosts",
                     "--bind-interfaces", $"--interface={_bridge}", "--except-interface=lo", $"--listen-address={host}",
                     $"--dhcp-range={Ipv4Subnet.Format(subnet.FirstGuestAddress)},{Ipv4Subnet.Format(subnet.LastGuestAddress)},{mask},1h",
                     "--dhcp-authoritative", $"--dhcp-leasefile={LeasesFile}", $"--pid-file={PidFile}",
                     // Without NAT the host routes nowhere for the guests: no default route is offered.
                     .. (_network.Nat ? Array.Empty<string>() : ["--dhcp-option=option:router"])])
            start.ArgumentList.Add(argument);
        return Process.Start(start) ?? throw new IOException("dnsmasq did not start");
    }

    private static string PidFileIn(string directory) => Path.Combine(directory, "dnsmasq.pid");

    /// <summary>Ends a dnsmasq left running in <paramref name="directory"/> by a killed daemon: its pid file names it, and its command line says it is that network's.</summary>
    public static void EndLeftover(string directory)
    {
        string pidFile = PidFileIn(directory);
        if (!File.Exists(pidFile)) return;
        if (int.TryParse(File.ReadAllText(pidFile).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out int pid) && IsDnsmasqOf(pid, pidFile))
        {
            try
            {
                using var old = Process.GetProcessById(pid);
                old.Kill();
                old.WaitForExit(5000);
            }
            catch (Exception e) when (e is ArgumentException or InvalidOperationException) { } // already gone
        }
        File.Delete(pidFile);
    }

    private static bool IsDnsmasqOf(int pid, string pidFile)
    {
        try { return File.ReadAllText($"/proc/{pid}/cmdline").Contains($"--pid-file={pidFile}\0", StringComparison.Ordinal); }
        catch (IOException) { return false; }
    }

    /// <summary>Ends dnsmasq and its supervision (its leases file stays).</summary>
    public void Dispose()
    {
        _stop.Cancel();
        try { _supervision.Wait(TimeSpan.FromSeconds(5)); }
        catch (AggregateException) { }
        if (_process is { } process)
        {
            try
            {
                if (!process.HasExited) process.Kill();
                process.WaitForExit(5000);
            }
            catch (InvalidOperationException) { }
            process.Dispose();
        }
        _stop.Dispose();
    }
}
