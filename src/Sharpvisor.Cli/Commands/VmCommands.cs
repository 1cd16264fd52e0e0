using System.CommandLine;
using System.Text.Json;
using Sharpvisor.Api.Rest.Contracts;
using Sharpvisor.Cli.Client;
using Spectre.Console;

namespace Sharpvisor.Cli.Commands;

/// <summary>
/// `sharpvisor vm ...`: the daemon's VMs, in the style of virsh and incus: create, list, show, start, stop, restart,
/// pause, resume, reset, delete, console, snapshot and migrate. Every verb takes --json.
/// </summary>
internal static class VmCommands
{
    private static readonly ClientOptions Client = new();

    public static Command Create()
    {
        var vm = new Command("vm", "Manage the VMs of a host daemon (`sharpvisor daemon`): exit codes 0 done, 2 bad arguments, 7 daemon unreachable, 8 refused, 9 failed.")
        {
            CreateVerb(), ListVerb(), ShowVerb(),
            StateVerb("start", "Start a stopped VM (its VMM boots it)."),
            StateVerb("stop", "Stop a VM: the ACPI power button, then (after --timeout, or at once with --force) the VMM is stopped."),
            StateVerb("restart", "Stop the VM, then start it again."),
            StateVerb("pause", "Pause the VM's vCPUs."),
            StateVerb("resume", "Let a paused VM run again."),
            StateVerb("reset", "Reset the machine: it boots again in the same VMM."),
            DeleteVerb(), ConsoleCommand.Create(Client), SnapshotVerb(), MigrateVerb(),
        };
        return vm;
    }

    private static Argument<string> NameArgument() => new("name") { Description = "The VM's name." };

    private static Command CreateVerb()
    {
        var name = NameArgument();
        var vcpus = new Option<int?>("--vcpus") { Description = "vCPUs (one socket)." };
        var topology = new Option<string?>("--topology") { Description = "sockets=S,cores=C,threads=T." };
        var memory = new Option<string?>("--memory", "-m") { Description = "Guest memory, e.g. 512M (default 512M)." };
        var disks = new Option<string[]>("--disk") { Description = "PATH[,ro][,format=raw|qcow2], a file under the daemon's disk folders. Repeatable.", Arity = ArgumentArity.ZeroOrMore };
        var image = new Option<string?>("--image") { Description = "An image (`storage images`): the VM's first disk is a new qcow2 overlay on it." };
        var nets = new Option<string[]>("--net") { Description = "network=NAME[,mac=..] (a daemon network) or tap=NAME[,mac=..] (a tap you made). Repeatable.", Arity = ArgumentArity.ZeroOrMore };
        var engine = new Option<string?>("--engine") { Description = "auto, kvm or emulator." };
        var kernel = new Option<string?>("--kernel") { Description = "Kernel to boot, a file under the daemon's disk folders (default: the default Debian guest)." };
        var initrd = new Option<string?>("--initrd") { Description = "Initial ramdisk, a file under the daemon's disk folders." };
        var cmdline = new Option<string?>("--cmdline") { Description = "Kernel command line." };
        var balloon = new Option<bool>("--balloon") { Description = "Give it a virtio-balloon device (the daemon sizes it automatically under memory pressure)." };
        var balloonMin = new Option<string?>("--balloon-min") { Description = "The least memory automatic ballooning leaves the guest, e.g. 256M (default: half its memory)." };
        var ksm = new Option<bool>("--ksm") { Description = "Offer its RAM to the host's KSM, which the daemon runs while such VMs run." };
        var cpuWeight = new Option<int?>("--cpu-weight") { Description = "Its share of contended CPU time, 1-10000 (default 100)." };
        var numa = new Option<string[]>("--numa") { Description = "A guest NUMA node, nodeN:cpus=0-1,mem=512M; one per node, in order. Repeatable.", Arity = ArgumentArity.ZeroOrMore };
        var cpuPin = new Option<string?>("--cpu-pin") { Description = "Host CPUs it runs on, e.g. 0-1,3 (default: any)." };
        var restart = new Option<string?>("--restart-policy") { Description = "no, on-failure or always." };
        var autostart = new Option<bool>("--autostart") { Description = "Start it whenever the daemon starts." };
        var description = new Option<string?>("--description") { Description = "A note on what it is for." };
        var start = new Option<bool>("--start") { Description = "Start it once created." };
        var command = Client.AddTo(new Command("create", "Define a VM (admitted against the host's capacity and overcommit ratios).")
        {
            name, vcpus, topology, memory, disks, image, nets, engine, kernel, initrd, cmdline, balloon, balloonMin, ksm, cpuWeight, cpuPin, numa, restart, autostart, description, start,
        });
        command.SetAction(parse => Client.Run(parse, async (client, json) =>
        {
            var request = new InstanceRequest
            {
                Name = parse.GetValue(name), Vcpus = parse.GetValue(vcpus), Topology = parse.GetValue(topology), Memory = parse.GetValue(memory),
                Engine = parse.GetValue(engine), Kernel = Full(parse.GetValue(kernel)), Initrd = Full(parse.GetValue(initrd)), Cmdline = parse.GetValue(cmdline),
                Disks = (parse.GetValue(disks) ?? []).Select(ParseDisk).ToArray(), Image = parse.GetValue(image),
                Nics = (parse.GetValue(nets) ?? []).Select(ParseNic).ToArray(),
                Balloon = parse.GetValue(balloon) ? true : null, BalloonMin = parse.GetValue(balloonMin), Ksm = parse.GetValue(ksm) ? true : null,
                CpuWeight = parse.GetValue(cpuWeight), CpuPin = parse.GetValue(cpuPin),
                Numa = parse.GetValue(numa) is { Length: > 0 } nodes ? nodes : null,
                RestartPolicy = parse.GetValue(restart),
                Autostart = parse.GetValue(autostart) ? true : null, Description = parse.GetValue(description),
            };
            var created = await client.SendAsync(HttpMethod.Post, "/1.0/instances", request).ConfigureAwait(false);
            if (parse.GetValue(start))
                await WithProgress(json, $"starting {request.Name}", p => client.SendAsync(HttpMethod.Put, $"/1.0/instances/{request.Name}/state", new StateRequest("start"), p)).ConfigureAwait(false);
            if (json) Print(parse.GetValue(start) ? await client.SendAsync(HttpMethod.Get, $"/1.0/instances/{request.Name}").ConfigureAwait(false) : created);
            else Console.WriteLine($"created {request.Name}{(parse.GetValue(start) ? " and started it" : "")}");
            return 0;
        }));
        return command;
    }

    private static string? Full(string? path) => path is null ? null : Path.GetFullPath(path);

    private static DiskRequest ParseDisk(string text)
    {
        var spec = Sharpvisor.Vmm.Configuration.DiskSpec.Parse(text);
        return new DiskRequest(Path.GetFullPath(spec.Path), spec.ReadOnly, spec.Format);
    }

    private static NicRequest ParseNic(string text)
    {
        if (text.StartsWith("network=", StringComparison.Ordinal))
        {
            var options = text.Split(',');
            if (options.Length > 2 || (options.Length == 2 && !options[1].StartsWith("mac=", StringComparison.Ordinal)))
                throw new FormatException($"--net {text}: a network NIC is network=NAME[,mac=52:54:00:..]");
            return new NicRequest(Network: options[0]["network=".Length..], Mac: options.Length == 2 ? options[1]["mac=".Length..] : null);
        }
        var spec = Sharpvisor.Vmm.Configuration.NetSpec.Parse(text);
        return new NicRequest(spec.Tap, spec.Mac);
    }

    private static Command ListVerb()
    {
        var command = Client.AddTo(new Command("list", "List the daemon's VMs with their state."));
        command.SetAction(parse => Client.Run(parse, async (client, json) =>
        {
            var list = await client.SendAsync(HttpMethod.Get, "/1.0/instances").ConfigureAwait(false);
            if (json) { Print(list); return 0; }
            var table = new Table().AddColumns("NAME", "STATUS", "VCPUS", "MEMORY", "ENGINE", "PID", "RESIDENT", "UPTIME");
            foreach (var vm in list.EnumerateArray())
                table.AddRow(Markup.Escape(vm.GetProperty("name").GetString()!), Markup.Escape(vm.GetProperty("status").GetString()!),
                    vm.GetProperty("vcpus").GetInt32().ToString(), Markup.Escape(vm.GetProperty("memory").GetString()!),
                    vm.GetProperty("engine").GetString()!, vm.TryGetProperty("pid", out var pid) ? pid.GetInt32().ToString() : "-",
                    vm.TryGetProperty("resident_memory_bytes", out var rss) ? $"{rss.GetUInt64() >> 20} MiB" : "-", Uptime(vm));
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static string Uptime(JsonElement vm)
    {
        if (vm.GetProperty("status").GetString() is not ("running" or "paused") || !vm.TryGetProperty("started_at", out var started)) return "-";
        var up = DateTimeOffset.UtcNow - started.GetDateTimeOffset();
        return up.TotalHours >= 1 ? $"{(int)up.TotalHours}h{up.Minutes:00}m" : $"{up.Minutes}m{up.Seconds:00}s";
    }

    private static Command ShowVerb()
    {
        var name = NameArgument();
        var command = Client.AddTo(new Command("show", "Show a VM's definition and state.") { name });
        command.SetAction(parse => Client.Run(parse, async (client, json) =>
        {
            var vm = await client.SendAsync(HttpMethod.Get, $"/1.0/instances/{parse.GetValue(name)}").ConfigureAwait(false);
            if (json) { Print(vm); return 0; }
            var grid = new Grid().AddColumns(2);
            foreach (var property in vm.EnumerateObject())
                grid.AddRow(Markup.Escape(property.Name), Markup.Escape(property.Value.ValueKind == JsonValueKind.String ? property.Value.GetString()! : property.Value.GetRawText()));
            AnsiConsole.Write(grid);
            return 0;
        }));
        return command;
    }

    private static Command StateVerb(string action, string description)
    {
        var name = NameArgument();
        var force = new Option<bool>("--force") { Description = "stop/restart: do not wait for the guest to power off." };
        var timeout = new Option<double?>("--timeout") { Description = "stop/restart: seconds to wait for the guest after the power button (default: the daemon's)." };
        var command = Client.AddTo(new Command(action, description) { name });
        if (action is "stop" or "restart") { command.Options.Add(force); command.Options.Add(timeout); }
        command.SetAction(parse => Client.Run(parse, async (client, json) =>
        {
            string vm = parse.GetValue(name)!;
            var result = await WithProgress(json, $"{action} {vm}", p => client.SendAsync(HttpMethod.Put, $"/1.0/instances/{vm}/state",
                new StateRequest(action, parse.GetValue(force), parse.GetValue(timeout)), p)).ConfigureAwait(false);
            if (json) Print(await client.SendAsync(HttpMethod.Get, $"/1.0/instances/{vm}").ConfigureAwait(false));
            else Console.WriteLine($"{vm}: {(await client.SendAsync(HttpMethod.Get, $"/1.0/instances/{vm}/state").ConfigureAwait(false)).GetProperty("status").GetString()}");
            _ = result;
            return 0;
        }));
        return command;
    }

    private static Command DeleteVerb()
    {
        var name = NameArgument();
        var force = new Option<bool>("--force") { Description = "Stop it first (at once, without waiting for the guest)." };
        var command = Client.AddTo(new Command("delete", "Delete a stopped VM, its folder and its snapshots.") { name, force });
        command.SetAction(parse => Client.Run(parse, async (client, json) =>
        {
            string vm = parse.GetValue(name)!;
            if (parse.GetValue(force))
            {
                var state = await client.SendAsync(HttpMethod.Get, $"/1.0/instances/{vm}/state").ConfigureAwait(false);
                if (state.GetProperty("status").GetString() is not ("stopped" or "crashed"))
                    await client.SendAsync(HttpMethod.Put, $"/1.0/instances/{vm}/state", new StateRequest("stop", Force: true)).ConfigureAwait(false);
            }
            await client.SendAsync(HttpMethod.Delete, $"/1.0/instances/{vm}").ConfigureAwait(false);
            if (json) Console.WriteLine(JsonSerializer.Serialize(new { deleted = vm }));
            else Console.WriteLine($"deleted {vm}");
            return 0;
        }));
        return command;
    }

    private static Command SnapshotVerb()
    {
        var snapshot = new Command("snapshot", "Snapshots of a VM: create, list, restore, delete.");
        foreach (var (verb, description) in new[]
        {
            ("create", "Save the running VM (memory, vCPUs, devices, disks) as SNAPSHOT; it goes on running, its disks in overlays."),
            ("restore", "Bring the VM back to SNAPSHOT (its current run is stopped)."),
            ("delete", "Delete SNAPSHOT, merging its disk layer into the disk above it."),
        })
        {
            var name = NameArgument();
            var snap = new Argument<string>("snapshot") { Description = "The snapshot's name." };
            var command = Client.AddTo(new Command(verb, description) { name, snap });
            command.SetAction(parse => Client.Run(parse, async (client, json) =>
            {
                string vm = parse.GetValue(name)!, s = parse.GetValue(snap)!;
                var result = verb switch
                {
                    "create" => await WithProgress(json, $"snapshot {vm}/{s}", p => client.SendAsync(HttpMethod.Post, $"/1.0/instances/{vm}/snapshots", new SnapshotRequest(s), p)).ConfigureAwait(false),
                    "restore" => await WithProgress(json, $"restore {vm}/{s}", p => client.SendAsync(HttpMethod.Post, $"/1.0/instances/{vm}/snapshots/{s}/restore", null, p)).ConfigureAwait(false),
                    _ => await client.SendAsync(HttpMethod.Delete, $"/1.0/instances/{vm}/snapshots/{s}").ConfigureAwait(false),
                };
                if (json) Print(result);
                else Console.WriteLine($"{verb} {vm}/{s}: done");
                return 0;
            }));
            snapshot.Subcommands.Add(command);
        }
        var listName = NameArgument();
        var list = Client.AddTo(new Command("list", "List the VM's snapshots.") { listName });
        list.SetAction(parse => Client.Run(parse, async (client, json) =>
        {
            var snapshots = await client.SendAsync(HttpMethod.Get, $"/1.0/instances/{parse.GetValue(listName)}/snapshots").ConfigureAwait(false);
            if (json) { Print(snapshots); return 0; }
            var table = new Table().AddColumns("NAME", "CREATED", "COMPLETE");
            foreach (var s in snapshots.EnumerateArray())
                table.AddRow(Markup.Escape(s.GetProperty("name").GetString()!), s.GetProperty("created_at").GetDateTimeOffset().ToString("u"), s.GetProperty("complete").GetBoolean() ? "yes" : "no");
            AnsiConsole.Write(table);
            return 0;
        }));
        snapshot.Subcommands.Add(list);
        return snapshot;
    }

    private static Command MigrateVerb()
    {
        var name = NameArgument();
        var to = new Option<string>("--to") { Description = "The destination daemon's TLS listener, https://HOST:PORT.", Required = true };
        var toToken = new Option<string>("--to-token") { Description = "The destination daemon's bearer token.", Required = true };
        var toFingerprint = new Option<string>("--to-fingerprint") { Description = "The destination daemon's certificate fingerprint.", Required = true };
        var downtime = new Option<double?>("--downtime-ms") { Description = "The pause the VM may have at the end of the migration." };
        var command = Client.AddTo(new Command("migrate", "Live-migrate the VM to another host's daemon; it runs there and is removed here.") { name, to, toToken, toFingerprint, downtime });
        command.SetAction(parse => Client.Run(parse, async (client, json) =>
        {
            string vm = parse.GetValue(name)!;
            var body = new { target = parse.GetValue(to), token = parse.GetValue(toToken), fingerprint = parse.GetValue(toFingerprint), downtime_ms = parse.GetValue(downtime) };
            var result = await WithProgress(json, $"migrating {vm}", p => client.SendAsync(HttpMethod.Post, $"/1.0/instances/{vm}/migrate", body, p)).ConfigureAwait(false);
            if (json) Print(result);
            else Console.WriteLine($"{vm} moved to {parse.GetValue(to)}");
            return 0;
        }));
        return command;
    }

    /// <summary>Runs a long request under a Spectre.Console spinner (not with --json, nor when output is not a terminal).</summary>
    internal static async Task<JsonElement> WithProgress(bool json, string what, Func<Action<JsonElement>, Task<JsonElement>> work)
    {
        if (json || Console.IsOutputRedirected) return await work(_ => { }).ConfigureAwait(false);
        JsonElement result = default;
        await AnsiConsole.Status().StartAsync(Markup.Escape(what), async context =>
        {
            result = await work(view =>
            {
                if (view.TryGetProperty("metadata", out var m) && m.TryGetProperty("progress", out var progress))
                    context.Status(Markup.Escape($"{what}: {progress.GetRawText()}"));
            }).ConfigureAwait(false);
        }).ConfigureAwait(false);
        return result;
    }

    internal static void Print(JsonElement element) =>
        Console.WriteLine(JsonSerializer.Serialize(element, new JsonSerializerOptions { WriteIndented = true }));
}
