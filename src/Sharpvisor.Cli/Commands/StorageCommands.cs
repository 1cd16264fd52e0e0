using System.CommandLine;
using System.Text.Json;
using Sharpvisor.Api.Rest.Contracts;
using Sharpvisor.Cli.Client;
using Spectre.Console;

namespace Sharpvisor.Cli.Commands;

/// <summary>
/// `sharpvisor storage ...`: the daemon's storage pool, its volumes and its images, in the style of `vm`: pools,
/// volumes, volume-create (empty, --from a volume, or --image: a qcow2 overlay), volume-resize, volume-delete,
/// images, image-import, image-delete. Every verb takes --json.
/// </summary>
internal static class StorageCommands
{
    private static readonly ClientOptions Client = new();
    private const string Pool = "/1.0/storage-pools/default/volumes";

    public static Command Create() =>
        new("storage", "The daemon's storage pool, volumes and images (exit codes as for `vm`).")
        {
            Listing("pools", "List the storage pools with their space.", "/1.0/storage-pools", "name", "path", "capacity_bytes", "free_bytes", "volumes"),
            Listing("volumes", "List the default pool's volumes.", Pool, "name", "format", "virtual_size", "actual_size", "backing", "used_by"),
            VolumeCreateVerb(), VolumeResizeVerb(),
            Removal("volume-delete", "Delete a volume no VM names and nothing rests on.", name => $"{Pool}/{name}"),
            Listing("images", "List the images.", "/1.0/images", "name", "virtual_size", "actual_size", "overlays"),
            ImageImportVerb(),
            Removal("image-delete", "Delete an image no volume rests on.", name => $"/1.0/images/{name}"),
        };

    private static Command Listing(string verb, string description, string path, params string[] columns)
    {
        var command = Client.AddTo(new Command(verb, description));
        command.SetAction(parse => Client.Run(parse, async (client, json) =>
        {
            var list = await client.SendAsync(HttpMethod.Get, path).ConfigureAwait(false);
            if (json) { VmCommands.Print(list); return 0; }
            var table = new Table().AddColumns(columns.Select(c => c.ToUpperInvariant()).ToArray());
            foreach (var row in list.EnumerateArray())
                table.AddRow(columns.Select(c => Markup.Escape(Cell(row.TryGetProperty(c, out var v) ? v : default))).ToArray());
            AnsiConsole.Write(table);
            return 0;
        }));
        return command;
    }

    private static string Cell(JsonElement value) => value.ValueKind switch
    {
        JsonValueKind.String => value.GetString()!,
        JsonValueKind.Array => string.Join(",", value.EnumerateArray().Select(Cell)),
        JsonValueKind.Undefined or JsonValueKind.Null => "-",
        _ => value.GetRawText(),
    };

    private static Command VolumeCreateVerb()
    {
        var name = new Argument<string>("name") { Description = "The volume's file name in the pool, e.g. data.qcow2." };
        var size = new Option<string?>("--size") { Description = "Its size, e.g. 10G (for an empty volume; on an image, at least the image's)." };
        var format = new Option<string?>("--format") { Description = "raw or qcow2 (default qcow2)." };
        var from = new Option<string?>("--from") { Description = "Clone: a full copy of this volume." };
        var image = new Option<string?>("--image") { Description = "A qcow2 overlay on this image, made at once whatever its size." };
        var command = Client.AddTo(new Command("volume-create", "Create a volume in the default pool.") { name, size, format, from, image });
        command.SetAction(parse => Client.Run(parse, async (client, json) =>
        {
            var created = await client.SendAsync(HttpMethod.Post, Pool, new VolumeRequest(parse.GetValue(name), parse.GetValue(size),
                parse.GetValue(format), parse.GetValue(from), parse.GetValue(image))).ConfigureAwait(false);
            if (json) VmCommands.Print(created);
            else Console.WriteLine($"created {created.GetProperty("path").GetString()} ({created.GetProperty("format").GetString()}, {created.GetProperty("virtual_size").GetUInt64()} bytes)");
            return 0;
        }));
        return command;
    }

    private static Command VolumeResizeVerb()
    {
        var name = new Argument<string>("name") { Description = "The volume." };
        var size = new Argument<string>("size") { Description = "Its new size, e.g. 20G (raw volumes grow)." };
        var command = Client.AddTo(new Command("volume-resize", "Grow a volume no running VM uses.") { name, size });
        command.SetAction(parse => Client.Run(parse, async (client, json) =>
        {
            var resized = await client.SendAsync(HttpMethod.Patch, $"{Pool}/{parse.GetValue(name)}", new VolumeResizeRequest(parse.GetValue(size))).ConfigureAwait(false);
            if (json) VmCommands.Print(resized);
            else Console.WriteLine($"{parse.GetValue(name)}: {resized.GetProperty("virtual_size").GetUInt64()} bytes");
            return 0;
        }));
        return command;
    }

    private static Command ImageImportVerb()
    {
        var name = new Argument<string>("name") { Description = "The image's name." };
        var file = new Argument<string>("file") { Description = "The file to copy in (raw or qcow2), under the daemon's disk folders." };
        var command = Client.AddTo(new Command("image-import", "Copy a disk image file into a new read-only qcow2 image.") { name, file });
        command.SetAction(parse => Client.Run(parse, async (client, json) =>
        {
            var image = await client.SendAsync(HttpMethod.Post, "/1.0/images", new ImageRequest(parse.GetValue(name), Path.GetFullPath(parse.GetValue(file)!))).ConfigureAwait(false);
            if (json) VmCommands.Print(image);
            else Console.WriteLine($"imported {image.GetProperty("name").GetString()} ({image.GetProperty("virtual_size").GetUInt64()} bytes)");
            return 0;
        }));
        return command;
    }

    private static Command Removal(string verb, string description, Func<string, string> path)
    {
        var name = new Argument<string>("name") { Description = "Its name." };
        var command = Client.AddTo(new Command(verb, description) { name });
        command.SetAction(parse => Client.Run(parse, async (client, json) =>
        {
            await client.SendAsync(HttpMethod.Delete, path(parse.GetValue(name)!)).ConfigureAwait(false);
            if (json) Console.WriteLine(JsonSerializer.Serialize(new { deleted = parse.GetValue(name) }));
            else Console.WriteLine($"deleted {parse.GetValue(name)}");
            return 0;
        }));
        return command;
    }
}
