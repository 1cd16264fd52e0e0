using System.CommandLine;
using Sharpvisor.TestGuests;

namespace Sharpvisor.Cli.Commands;

/// <summary>`sharpvisor test-guests`: list our test guests, or write them out as PVH ELF files (for QEMU, say).</summary>
internal static class TestGuestsCommand
{
    public static Command Create()
    {
        var list = new Command("list", "List the test guests.");
        list.SetAction(_ =>
        {
            foreach (var g in TestGuestCatalog.All) Console.WriteLine($"{g.Name,-16} {g.Description}");
        });
        var directory = new Argument<string>("directory") { Description = "Folder to write <name>.elf files into." };
        var export = new Command("export", "Write every test guest as a PVH ELF file.") { directory };
        export.SetAction(parse =>
        {
            foreach (var path in TestGuestCatalog.WriteAll(parse.GetValue(directory)!)) Console.WriteLine(path);
        });
        return new Command("test-guests", "Our small test guests.") { list, export };
    }
}
