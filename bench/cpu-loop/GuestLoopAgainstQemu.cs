using System.Diagnostics;
using Sharpvisor.TestGuests;

namespace Sharpvisor.Bench.CpuLoop;

/// <summary>
/// The same CPU-bound guest on Sharpvisor's emulator engine and on QEMU TCG: the ring3-compute test guest (a
/// xorshift64 loop at ring 3, 12 instructions per step) as a PVH ELF, booted whole by each. Each VMM runs it with a
/// short and a long loop, rounds interleaved; the difference of the median wall times is the loop alone, without
/// start-up and boot, so MIPS = (long - short) steps x 12 / (time long - time short).
/// </summary>
internal static class GuestLoopAgainstQemu
{
    private const int InstructionsPerStep = 12;   // mov, shl, xor, mov, shr, xor, mov, shl, xor, add, dec, jnz

    public static (double Sharpvisor, double Qemu) Run(string repositoryRoot, ulong shortSteps, ulong longSteps, int rounds)
    {
        string folder = Directory.CreateTempSubdirectory("sharpvisor-cpu-loop-").FullName;
        try
        {
            var guest = TestGuestCatalog.Get("ring3-compute");
            string shortElf = Path.Combine(folder, "short.elf"), longElf = Path.Combine(folder, "long.elf");
            File.WriteAllBytes(shortElf, guest.BuildElf(new TestGuestOptions { ComputeIterations = shortSteps }));
            File.WriteAllBytes(longElf, guest.BuildElf(new TestGuestOptions { ComputeIterations = longSteps }));
            string launcher = Path.Combine(repositoryRoot, "sharpvisor");
            var times = new Dictionary<string, List<double>>();
            for (int round = 0; round < rounds; round++)
                foreach (var (vmm, elf) in new[] { ("sharpvisor", shortElf), ("sharpvisor", longElf), ("qemu", shortElf), ("qemu", longElf) })
                {
                    double seconds = vmm == "sharpvisor"
                        ? Time(launcher, ["run", "--kernel", elf, "--test-devices", "--engine", "emulator", "--memory", "64M", "--serial", "none"], expectedExit: 0)
                        : Time("qemu-system-x86_64", ["-accel", "tcg", "-M", "pc", "-m", "64", "-nographic", "-no-reboot", "-serial", "none",
                              "-monitor", "none", "-net", "none", "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel", elf], expectedExit: 1);
                    string key = $"{vmm} {(elf == shortElf ? "short" : "long")}";
                    (times.TryGetValue(key, out var list) ? list : times[key] = []).Add(seconds);
                    Console.Error.WriteLine($"round {round + 1}: {key,-16} {seconds,7:0.00} s");
                }
            double instructions = (double)(longSteps - shortSteps) * InstructionsPerStep;
            double Mips(string vmm) => instructions / (Median(times[$"{vmm} long"]) - Median(times[$"{vmm} short"])) / 1e6;
            return (Mips("sharpvisor"), Mips("qemu"));
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }

    // QEMU's isa-debug-exit turns the guest's pass (0) into exit status 1; Sharpvisor reports it as 0.
    private static double Time(string program, string[] arguments, int expectedExit)
    {
        var start = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var argument in arguments) start.ArgumentList.Add(argument);
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var errors = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        double seconds = clock.Elapsed.TotalSeconds;
        if (process.ExitCode != expectedExit)
            throw new InvalidOperationException($"{program} exited with {process.ExitCode} (expected {expectedExit}): {output.Result}{errors.Result}");
        return seconds;
    }

    private static double Median(List<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
    }
}
