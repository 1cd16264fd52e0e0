using System.CommandLine;
using System.CommandLine.Help;
using Sharpvisor.Coverage.Census;

namespace Sharpvisor.Coverage;

/// <summary>
/// Sharpvisor.Coverage census [--json] [--features baseline|all] [--top N] [FILE...]
/// FILE is an ELF file or a bzImage; without FILE the default guest's vmlinux, busybox and modules are counted.
/// Sharpvisor.Coverage extract-vmlinux BZIMAGE OUTPUT writes the vmlinux ELF inside a bzImage (for readelf/objdump).
/// </summary>
internal static class Program
{
    private const string Usage = "usage: Sharpvisor.Coverage census [--json] [--features baseline|all] [--top N] [FILE...]\n" +
                                 "       Sharpvisor.Coverage extract-vmlinux BZIMAGE OUTPUT";
    private const int BadArguments = 2;

    private static int Main(string[] args)
    {
        var json = new Option<bool>("--json") { Description = "Print the report as JSON (with every form) instead of text." };
        var features = new Option<string>("--features")
        {
            Description = "The CPUID feature set forms are judged against: baseline or all.", DefaultValueFactory = _ => "baseline",
        };
        features.AcceptOnlyFromAmong("baseline", "all");
        var top = new Option<int>("--top") { Description = "How many forms to list per file, by static count.", DefaultValueFactory = _ => 25 };
        top.Validators.Add(result =>
        {
            if (result.GetValueOrDefault<int>() < 0) result.AddError("--top must be 0 or more");
        });
        var files = new Argument<string[]>("FILE")
        {
            Description = "ELF files or bzImages; without any, the default guest's vmlinux, busybox and modules.", Arity = ArgumentArity.ZeroOrMore,
        };
        var census = new Command("census", "Count the instruction forms the files use, and how many the emulator implements and the oracle verified.")
        {
            json, features, top, files,
        };
        census.SetAction((parse, cancel) =>
            Census(parse.GetValue(json), parse.GetValue(features)!, parse.GetValue(top), parse.GetValue(files) ?? [], cancel));

        var bzImage = new Argument<string>("BZIMAGE") { Description = "The kernel image." };
        var output = new Argument<string>("OUTPUT") { Description = "Where the vmlinux ELF goes." };
        var extract = new Command("extract-vmlinux", "Write the vmlinux ELF inside a bzImage (for readelf/objdump).") { bzImage, output };
        extract.SetAction(parse => ExtractVmlinux(parse.GetValue(bzImage)!, parse.GetValue(output)!));

        var root = new RootCommand("Sharpvisor.Coverage: an instruction census of vmlinux and busybox against the emulator.") { census, extract };
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0 && parsed.Action is not HelpAction)
        {
            foreach (var error in parsed.Errors) Console.Error.WriteLine($"Sharpvisor.Coverage: {error.Message}");
            Console.Error.WriteLine(Usage);
            return BadArguments;
        }
        return parsed.Invoke();
    }

    private static async Task<int> Census(bool json, string featureSetName, int top, IReadOnlyList<string> files, CancellationToken cancel)
    {
        try
        {
            var progress = new Progress<string>(message => Console.Error.WriteLine(message));
            IReadOnlyList<CensusInput> inputs = files.Count == 0
                ? await CensusInputs.FromDefaultGuestAsync(progress, cancel)
                : files.Select(CensusInputs.FromFile).ToArray();
            var censuses = inputs.Select(input => input.Take()).ToArray();
            var total = new InstructionCensus("total");
            foreach (var census in censuses) total.Add(census);

            var report = new CensusReport(featureSetName, CpuidFeatureSets.ByName(featureSetName), EmulatorEngineForms.Instance) { TopCount = top };
            if (json) Console.WriteLine(report.ToJson(censuses, total, includeForms: true));
            else report.WriteText(Console.Out, censuses, total);
            return 0;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or UnauthorizedAccessException
                                       or Sharpvisor.Vmm.Images.GuestImageException)
        {
            Console.Error.WriteLine($"census failed: {e.Message}");
            return 1;
        }
    }

    private static int ExtractVmlinux(string bzImagePath, string outputPath)
    {
        try
        {
            byte[] vmlinux = Kernel.BzImage.ExtractVmlinux(File.ReadAllBytes(bzImagePath));
            File.WriteAllBytes(outputPath, vmlinux);
            Console.WriteLine($"{outputPath}: {vmlinux.Length:N0} bytes");
            return 0;
        }
        catch (Exception e) when (e is IOException or InvalidDataException or NotSupportedException or UnauthorizedAccessException)
        {
            Console.Error.WriteLine($"extract-vmlinux failed: {e.Message}");
            return 1;
        }
    }
}
