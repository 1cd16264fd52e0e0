using System.CommandLine;
using System.Text.Json;
using Sharpvisor.Machine.Storage;
using Sharpvisor.Machine.Storage.Qcow2;
using Sharpvisor.Vmm.Configuration;

namespace Sharpvisor.Cli.Commands;

/// <summary>`sharpvisor image create`, `image info` and `image convert`: disk image files, raw or qcow2.</summary>
internal static class ImageFileCommands
{
    public static Command Create()
    {
        var format = new Option<string>("-f", "--format") { Description = "raw or qcow2.", DefaultValueFactory = _ => "qcow2" };
        format.AcceptOnlyFromAmong("raw", "qcow2");
        var backing = new Option<string?>("-b", "--backing") { Description = "A backing file (qcow2 only), relative to the new image's folder unless absolute." };
        var file = new Argument<string>("file") { Description = "The image to create (it must not exist)." };
        var size = new Argument<string?>("size") { Description = "Virtual size: 10G, 512M, 64K (a bare number is bytes, as qemu-img reads it; rounded up to 512-byte sectors); with -b, the backing file's size by default.", Arity = ArgumentArity.ZeroOrOne };
        var command = new Command("create", "Create a disk image.") { format, backing, file, size };
        command.SetAction(parse =>
        {
            string path = parse.GetValue(file)!, kind = parse.GetValue(format)!;
            string? backingName = parse.GetValue(backing), sizeText = parse.GetValue(size);
            try
            {
                if (backingName is not null && kind != "qcow2") throw new FormatException("-b needs -f qcow2");
                string? backingFormat = null;
                ulong bytes;
                if (backingName is not null)
                {
                    string resolved = Path.IsPathRooted(backingName) ? backingName
                        : Path.Combine(Path.GetDirectoryName(Path.GetFullPath(path)) ?? "/", backingName);
                    using var below = BlockBackendOpener.Open(resolved, readOnly: true);
                    backingFormat = below.Format;
                    bytes = sizeText is null ? below.VirtualSize : DiskSize(sizeText);
                }
                else
                {
                    bytes = DiskSize(sizeText ?? throw new FormatException("a size is needed (or -b BACKING)"));
                }
                if (kind == "qcow2") Qcow2ImageCreator.Create(path, bytes, backingName, backingFormat);
                else
                {
                    using var stream = new FileStream(path, FileMode.CreateNew, FileAccess.Write);
                    stream.SetLength((long)bytes);
                }
                Console.WriteLine($"{path}: {kind}, {MemorySize.Format(bytes)}{(backingName is null ? "" : $", backing {backingName} ({backingFormat})")}");
                return 0;
            }
            catch (FormatException e)
            {
                Console.Error.WriteLine($"sharpvisor: {e.Message}");
                return ExitCodes.BadArguments;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
            {
                Console.Error.WriteLine($"sharpvisor: cannot create {path}: {e.Message}");
                return ExitCodes.VmmError;
            }
        });
        return command;
    }

    public static Command Info()
    {
        var json = new Option<bool>("--json") { Description = "One JSON document: the chain, top image first." };
        var file = new Argument<string>("file") { Description = "The image." };
        var command = new Command("info", "Show an image's format, virtual and actual size, cluster size and backing chain.") { json, file };
        command.SetAction(parse =>
        {
            string path = parse.GetValue(file)!;
            try
            {
                var chain = BlockImageInfo.Chain(path);
                if (parse.GetValue(json))
                {
                    Console.WriteLine(JsonSerializer.Serialize(chain, new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.CamelCase, WriteIndented = true }));
                    return 0;
                }
                string indent = "";
                foreach (var image in chain)
                {
                    Console.WriteLine($"{indent}image: {image.Path}");
                    Console.WriteLine($"{indent}format: {image.Format}{(image.Qcow2Version is { } v ? $" (version {v})" : "")}");
                    Console.WriteLine($"{indent}virtual size: {image.VirtualSize} bytes ({MemorySize.Format(image.VirtualSize)})");
                    Console.WriteLine($"{indent}disk size: {image.ActualSize} bytes");
                    if (image.ClusterSize is { } cluster) Console.WriteLine($"{indent}cluster size: {cluster}");
                    if (image.BackingFile is { } b) Console.WriteLine($"{indent}backing file: {b}{(image.BackingFormat is { } f ? $" (format {f})" : "")}");
                    indent += "  ";
                }
                return 0;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"sharpvisor: cannot read {path}: {e.Message}");
                return ExitCodes.VmmError;
            }
        });
        return command;
    }

    public static Command Convert()
    {
        var sourceFormat = new Option<string?>("-f") { Description = "The source's format, raw or qcow2 (probed from its first bytes otherwise)." };
        sourceFormat.AcceptOnlyFromAmong("raw", "qcow2");
        var format = new Option<string>("-O") { Description = "The new image's format: raw (a sparse file) or qcow2.", Required = true };
        format.AcceptOnlyFromAmong("raw", "qcow2");
        var compress = new Option<bool>("-c") { Description = "Compress the qcow2 image's clusters (deflate, as qemu-img convert -c)." };
        var source = new Argument<string>("source") { Description = "The image to read, with its whole backing chain." };
        var destination = new Argument<string>("destination") { Description = "The new image (replaced if it exists, once the copy is complete)." };
        var command = new Command("convert", "Copy what an image holds (its backing chain included) into a new raw or qcow2 image, skipping zero clusters.")
            { sourceFormat, format, compress, source, destination };
        command.SetAction(parse =>
        {
            string from = parse.GetValue(source)!, to = parse.GetValue(destination)!, kind = parse.GetValue(format)!;
            try
            {
                long chunks = ImageConverter.Convert(from, parse.GetValue(sourceFormat), to, kind, parse.GetValue(compress));
                Console.WriteLine($"{to}: {kind}{(parse.GetValue(compress) ? ", compressed" : "")}, {chunks} of 64 KiB written");
                return 0;
            }
            catch (ArgumentException e)
            {
                Console.Error.WriteLine($"sharpvisor: {e.Message}");
                return ExitCodes.BadArguments;
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"sharpvisor: cannot convert {from} to {to}: {e.Message}");
                return ExitCodes.VmmError;
            }
        });
        return command;
    }

    /// <summary>A disk size as qemu-img reads it: bytes unless suffixed, rounded up to whole 512-byte sectors.</summary>
    private static ulong DiskSize(string text)
    {
        ulong bytes = MemorySize.Parse(text, MemorySize.Bytes);
        if (bytes > ulong.MaxValue - 511) throw new FormatException($"'{text}' is too large");
        return (bytes + 511) & ~511UL;
    }
}
