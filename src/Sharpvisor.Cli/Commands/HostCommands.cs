using System.CommandLine;
using System.Net.WebSockets;
using System.Text;
using System.Text.Json;
using Sharpvisor.Cli.Client;
using Spectre.Console;

namespace Sharpvisor.Cli.Commands;

/// <summary>`sharpvisor host info` (capacity, allocations against the ratios) and `sharpvisor events` (the daemon's event stream).</summary>
internal static class HostCommands
{
    private static readonly ClientOptions Client = new();

    public static Command Host()
    {
        var info = Client.AddTo(new Command("info", "The host's capacity, what its VMs are given against the overcommit ratios, and what their processes use."));
        info.SetAction(parse => Client.Run(parse, async (client, json) =>
        {
            var host = await client.SendAsync(HttpMethod.Get, "/1.0/host").ConfigureAwait(false);
            if (json) { VmCommands.Print(host); return 0; }
            var limits = host.GetProperty("limits");
            var allocated = host.GetProperty("allocated");
            var ratios = host.GetProperty("ratios");
            var table = new Table().AddColumns("RESOURCE", "CAPACITY", "RATIO", "LIMIT", "ALLOCATED");
            table.AddRow("vCPUs", $"{host.GetProperty("cores").GetInt32()} cores", ratios.GetProperty("cpu").GetDouble().ToString(), limits.GetProperty("vcpus").GetInt64().ToString(), allocated.GetProperty("vcpus").GetInt32().ToString());
            table.AddRow("memory", Mib(host.GetProperty("memory_bytes")) + $" - {Mib(host.GetProperty("reserved_memory_bytes"))} reserved", ratios.GetProperty("memory").GetDouble().ToString(), Mib(limits.GetProperty("memory_bytes")), Mib(allocated.GetProperty("memory_bytes")));
            table.AddRow("disk", Mib(host.GetProperty("disk_bytes")), ratios.GetProperty("disk").GetDouble().ToString(), Mib(limits.GetProperty("disk_bytes")), Mib(allocated.GetProperty("disk_bytes")));
            AnsiConsole.Write(table);
            Console.WriteLine($"{host.GetProperty("instances").GetInt32()} VMs, {host.GetProperty("running").GetInt32()} running; their VMM processes hold {Mib(host.GetProperty("vmm_resident_bytes"))} resident");
            return 0;
        }));
        return new Command("host", "The host daemon's host: capacity and allocations.") { info };
    }

    private static string Mib(JsonElement bytes) => $"{bytes.GetUInt64() >> 20:N0} MiB";

    public static Command Events()
    {
        var command = Client.AddTo(new Command("events", "Print the daemon's lifecycle and operation events as they happen, one line each (JSON with --json), until interrupted."));
        command.SetAction(parse => Client.Run(parse, async (client, json) =>
        {
            using var stop = new CancellationTokenSource();
            Console.CancelKeyPress += (_, e) => { e.Cancel = true; stop.Cancel(); };
            using var socket = await client.OpenWebSocketAsync("/1.0/events", stop.Token).ConfigureAwait(false);
            var buffer = new byte[65536];
            try
            {
                while (true)
                {
                    var received = await socket.ReceiveAsync(buffer, stop.Token).ConfigureAwait(false);
                    if (received.MessageType == WebSocketMessageType.Close) break;
                    string text = Encoding.UTF8.GetString(buffer, 0, received.Count);
                    if (json) { Console.WriteLine(text); continue; }
                    var e = JsonDocument.Parse(text).RootElement;
                    Console.WriteLine($"{e.GetProperty("timestamp").GetDateTimeOffset():HH:mm:ss.fff} {e.GetProperty("type").GetString()} {e.GetProperty("action").GetString()} " +
                                      $"{(e.TryGetProperty("instance", out var i) ? i.GetString() : "-")}: {e.GetProperty("message").GetString()}");
                }
            }
            catch (OperationCanceledException) { }
            return 0;
        }));
        return command;
    }
}
