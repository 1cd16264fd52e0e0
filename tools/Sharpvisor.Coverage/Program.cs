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

    private static async Task<int> Main(string[] args)
    {
        if (args.Length == 3 && args[0] == "extract-vmlinux") return ExtractVmlinux(args[1], args[2]);
        if (args.Length == 0 || args[0] != "census")
        {
            Console.Error.WriteLine(Usage);
            return 2;
        }
        bool json = false;
        string featureSetName = "baseline";
        int top = 25;
        var files = new List<string>();
        for (int i = 1; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--json":
                    json = true;
                    break;
                case "--features" when i + 1 < args.Length:
                    featureSetName = args[++i];
                    break;
                case "--top" when i + 1 < args.Length && int.TryParse(args[i + 1], out int parsed) && parsed >= 0:
                    top = parsed;
                    i++;
                    break;
                case var option when option.StartsWith("--", StringComparison.Ordinal):
                    Console.Error.WriteLine($"unknown or incomplete option {option}\n{Usage}");
                    return 2;
                default:
                    files.Add(args[i]);
                    break;
            }
        }
        if (featureSetName is not ("baseline" or "all"))
        {
            Console.Error.WriteLine($"--features must be baseline or all, not {featureSetName}\n{Usage}");
            return 2;
        }

        try
        {
            var progress = new Progress<string>(message => Console.Error.WriteLine(message));
            IReadOnlyList<CensusInput> inputs = files.Count == 0
                ? await CensusInputs.FromDefaultGuestAsync(progress, CancellationToken.None)
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
