using System.Diagnostics;
using System.Text.Json;

namespace Sharpvisor.Host.Tests.Daemon;

/// <summary>The `vm`, `host` verbs of the CLI against a real daemon: what they print with --json, and their exit codes.</summary>
public sealed class ClientVerbTests : IDisposable
{
    private readonly DaemonProcess _daemon = new(null, "--host-memory", "2G");

    public void Dispose() => _daemon.Dispose();

    private (int Code, string Out, string Err) Cli(params string[] arguments)
    {
        var start = new ProcessStartInfo("dotnet") { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        start.ArgumentList.Add(DaemonProcess.CliDll);
        foreach (var a in arguments) start.ArgumentList.Add(a);
        start.Environment["SHARPVISOR_SOCKET"] = _daemon.Socket;
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        string error = process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output.Result, error);
    }

    [Fact]
    public void Create_list_show_and_delete_print_JSON_for_scripts()
    {
        var created = Cli("vm", "create", "cli1", "--memory", "256M", "--vcpus", "2", "--restart-policy", "always", "--json");
        Assert.True(created.Code == 0, created.Err);
        using (var vm = JsonDocument.Parse(created.Out))
        {
            Assert.Equal("cli1", vm.RootElement.GetProperty("name").GetString());
            Assert.Equal("always", vm.RootElement.GetProperty("restart_policy").GetString());
        }
        var list = Cli("vm", "list", "--json");
        Assert.Equal(0, list.Code);
        using (var vms = JsonDocument.Parse(list.Out))
            Assert.Equal(["cli1"], vms.RootElement.EnumerateArray().Select(v => v.GetProperty("name").GetString()!).ToArray());
        var show = Cli("vm", "show", "cli1", "--json");
        using (var vm = JsonDocument.Parse(show.Out)) Assert.Equal(2, vm.RootElement.GetProperty("vcpus").GetInt32());
        var host = Cli("host", "info", "--json");
        using (var h = JsonDocument.Parse(host.Out)) Assert.Equal(256UL << 20, h.RootElement.GetProperty("allocated").GetProperty("memory_bytes").GetUInt64());
        Assert.Equal(0, Cli("vm", "delete", "cli1").Code);
        using var empty = JsonDocument.Parse(Cli("vm", "list", "--json").Out);
        Assert.Equal(0, empty.RootElement.GetArrayLength());
    }

    [SkippableFact]
    public void Network_create_list_show_and_delete_print_JSON_and_a_refusal_exits_8()
    {
        DaemonNetworkTests.RequireNetworks();
        try
        {
            var created = Cli("network", "create", "clinet", "--subnet", "10.248.0.0/24", "--nat", "--json");
            Assert.True(created.Code == 0, created.Err);
            using (var network = JsonDocument.Parse(created.Out))
            {
                Assert.Equal("10.248.0.1", network.RootElement.GetProperty("host_address").GetString());
                Assert.True(network.RootElement.GetProperty("nat").GetBoolean());
            }
            using (var list = JsonDocument.Parse(Cli("network", "list", "--json").Out))
                Assert.Equal(["clinet"], list.RootElement.EnumerateArray().Select(n => n.GetProperty("name").GetString()!).ToArray());
            var vm = Cli("vm", "create", "onnet", "--memory", "128M", "--net", "network=clinet,mac=52:54:00:12:34:56", "--json");
            Assert.True(vm.Code == 0, vm.Err);
            using (var show = JsonDocument.Parse(Cli("network", "show", "clinet", "--json").Out))
            {
                Assert.Equal(["onnet"], show.RootElement.GetProperty("used_by").EnumerateArray().Select(n => n.GetString()!).ToArray());
                Assert.Equal(0, show.RootElement.GetProperty("leases").GetArrayLength());
            }
            var overlap = Cli("network", "create", "clinet2", "--subnet", "10.248.0.0/16");
            Assert.Equal(8, overlap.Code);
            Assert.Contains("overlaps network 'clinet'", overlap.Err);
            var inUse = Cli("network", "delete", "clinet");
            Assert.Equal(8, inUse.Code);
            Assert.Contains("used by 'onnet'", inUse.Err);
            Assert.Equal(0, Cli("vm", "delete", "onnet").Code);
            Assert.Equal(0, Cli("network", "delete", "clinet").Code);
            Assert.Equal(8, Cli("network", "show", "clinet").Code);
        }
        finally
        {
            DaemonNetworks.CleanUp(_daemon, ["clinet"], [("onnet", 1)]);
        }
    }

    [Fact]
    public void A_refusal_exits_8_with_the_daemons_reason_and_an_unreachable_daemon_exits_7()
    {
        var tooBig = Cli("vm", "create", "huge", "--memory", "64G");
        Assert.Equal(8, tooBig.Code);
        Assert.Contains("does not fit on this host", tooBig.Err);
        var missing = Cli("vm", "start", "nobody");
        Assert.Equal(8, missing.Code);
        Assert.Contains("no instance named 'nobody'", missing.Err);
        var json = Cli("vm", "show", "nobody", "--json");
        Assert.Equal(8, json.Code);
        using (var error = JsonDocument.Parse(json.Out)) Assert.Equal(8, error.RootElement.GetProperty("exit_code").GetInt32());
        var nowhere = Cli("vm", "list", "--socket", Path.Combine(_daemon.Root, "no-such.sock"));
        Assert.Equal(7, nowhere.Code);
        Assert.Contains("cannot reach the daemon", nowhere.Err);
    }
}
