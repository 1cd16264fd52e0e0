using System.CommandLine;
using System.Text.Json;
using Sharpvisor.Api.Rest.Contracts;
using Sharpvisor.Cli.Client;
using Spectre.Console;

namespace Sharpvisor.Cli.Commands;

/// <summary>`sharpvisor network ...`: the daemon's virtual networks (create, list, show, delete), in the style of the `vm` verbs; every verb takes --json.</summary>
internal static class NetworkCommands
{
    private static readonly ClientOptions Client = new();

    public static Command Create() =>
        new("network", "Manage the virtual networks of a host daemon (a bridge, DHCP and DNS, optional NAT): exit codes 0 done, 2 bad arguments, 7 daemon unreachable, 8 refused, 9 failed.")
        {
            CreateVerb(), ListVerb(), ShowVerb(), DeleteVerb(),
        };

    private static Argument<string> NameArgument() => new("name") { Description = "The network's name." };

    private static Command CreateVerb()
    {
        var name = NameArgument();
        var subnet = new Option<string>("--subnet") { Description = "IPv4 subnet in CIDR, e.g. 10.20.0.0/24: the host takes the first address, DHCP the rest.", Required = true };
        var nat = new Option<bool>("--nat") { Description = "Masquerade the network's traffic to the host's uplink." };
        var description = new Option<string?>("--description") { Description = "A note on what it is for." };
        var command = Client.AddTo(new Command("create", "Define a network and bring it up.") { name, subnet, nat, description });
        command.SetAction(parse => Client.Run(parse, async (client, json) =>
        {
            var created = await client.SendAsync(HttpMethod.Post, "/1.0/networks",
                new NetworkRequest(parse.GetValue(name), parse.GetValue(subnet), parse.GetValue(nat), parse.GetValue(description))).ConfigureAwait(false);
            if (json) VmCommands.Print(created);
            else Console.WriteLine($"created network {created.GetProperty("name").GetString()} ({created.GetProperty("subnet").GetString()}, host address {created.GetProperty("host_address").GetString()}, bridge {created.GetProperty("bridge").GetString()})");
            return 0;
        }));
        return command;
    }

    private static Command ListVerb()
    {
        var command = Client.AddTo(new Command("list", "List the daemon's networks."));
        command.SetAction(parse => Client.Run(parse, async (client, json) =>
        {
            var list = await client.SendAsync(HttpMethod.Get, "/1.0/networks").ConfigureAwait(false);
            if (json) { VmCommands.Print(list); return 0; }
            var table = new Table().AddColumns("NAME", "SUBNET", "NAT", "BRIDGE", "USED BY");
            foreach (var n in list.EnumerateArray())
                table.AddRow(Markup.Escape(n.GetProperty("name").GetString()!), n.GetProperty("subnet").GetString()!, n.GetProperty("nat").GetBoolean() ? "yes" : "no",
                    n.GetProperty("bridge").GetString()!, Markup.Escape(string.Join(", ", n.GetProperty("used_by").EnumerateArray().Select(u => u.GetString()))));
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static Command ShowVerb()
    {
        var name = NameArgument();
        var command = Client.AddTo(new Command("show", "Show a network and the addresses its DHCP server has leased.") { name });
        command.SetAction(parse => Client.Run(parse, async (client, json) =>
        {
            var network = await client.SendAsync(HttpMethod.Get, $"/1.0/networks/{parse.GetValue(name)}").ConfigureAwait(false);
            if (json) { VmCommands.Print(network); return 0; }
            var grid = new Grid().AddColumns(2);
            foreach (var property in network.EnumerateObject().Where(p => p.Name != "leases"))
                grid.AddRow(Markup.Escape(property.Name), Markup.Escape(property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString()! : property.Value.GetRawText()));
            AnsiConsole.Write(grid);
            var leases = new Table().AddColumns("MAC", "ADDRESS", "HOSTNAME", "EXPIRES");
            foreach (var lease in network.GetProperty("leases").EnumerateArray())
                leases.AddRow(lease.GetProperty("mac").GetString()!, lease.GetProperty("address").GetString()!,
                    Markup.Escape(lease.TryGetProperty("hostname", out var host) ? host.GetString()! : "-"), lease.GetProperty("expires").GetDateTimeOffset().ToString("u"));
            AnsiConsole.Write(leases);
            return 0;
        }));
        return command;
    }

    private static Command DeleteVerb()
    {
        var name = NameArgument();
        var command = Client.AddTo(new Command("delete", "Delete a network no VM uses: its bridge, DHCP server and rules go.") { name });
        command.SetAction(parse => Client.Run(parse, async (client, json) =>
        {
            await client.SendAsync(HttpMethod.Delete, $"/1.0/networks/{parse.GetValue(name)}").ConfigureAwait(false);
            if (json) Console.WriteLine(JsonSerializer.Serialize(new { deleted = parse.GetValue(name) }));
            else Console.WriteLine($"deleted network {parse.GetValue(name)}");
            return 0;
        }));
        return command;
    }
}
