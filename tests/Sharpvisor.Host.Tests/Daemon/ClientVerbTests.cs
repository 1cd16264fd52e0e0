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
