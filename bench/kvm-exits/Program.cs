using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Sharpvisor.Bench.KvmExits;
using Sharpvisor.TestGuests;

// Two figures, each measured side by side with QEMU in the same run, rounds interleaved, medians reported:
//  1. boot to first serial byte: process start -> the hello guest's first byte on stdout (whole VMM, as a user sees it);
//  2. port-I/O exits per second: the pio-loop guest run with two iteration counts; the difference in wall time over
//     the difference in out+in instructions cancels start-up and boot.
var cliOption = new Option<string>("--cli") { Description = "PATH/sharpvisor.dll: the CLI to measure.", Required = true };
var roundsOption = new Option<int>("--rounds") { Description = "Rounds per figure, interleaved with QEMU's.", DefaultValueFactory = _ => 5 };
var parsed = new RootCommand("Boot to first serial byte and port-I/O exits per second on KVM, against QEMU.") { cliOption, roundsOption }.Parse(args);
if (parsed.Action is not null) return parsed.Invoke(); // --help, or bad arguments (reported)
string cli = parsed.GetValue(cliOption)!;
int rounds = parsed.GetValue(roundsOption);
const int fewIterations = 2_000, manyIterations = 20_000;

string dir = Directory.CreateTempSubdirectory("kvm-exits-bench-").FullName;
TestGuestCatalog.WriteAll(dir);
string hello = Path.Combine(dir, "hello.elf"), pio = Path.Combine(dir, "pio-loop.elf");

var sharpvisor = new Vmm("sharpvisor", "dotnet", kernel => [cli, "run", "--kernel", kernel, "--test-devices", "--engine", "kvm", "--memory", "128M"], "--cmdline");
var qemu = new Vmm("qemu", "qemu-system-x86_64", kernel =>
[
    "-enable-kvm", "-cpu", "host,-arch-capabilities", "-M", "microvm", "-m", "128", "-nographic", "-no-reboot",
    "-serial", "stdio", "-monitor", "none", "-net", "none",
    "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-device", "pc-testdev", "-kernel", kernel,
], "-append");
Vmm[] vmms = [sharpvisor, qemu];

var firstByte = vmms.ToDictionary(v => v.Name, _ => new List<double>());
var pioRate = vmms.ToDictionary(v => v.Name, _ => new List<double>());
for (int round = 1; round <= rounds; round++)
{
    foreach (var vmm in vmms)
    {
        var boot = vmm.Run(hello, null, "PASS hello");
        firstByte[vmm.Name].Add(boot.FirstByteMs);
        var few = vmm.Run(pio, $"iterations={fewIterations}", "PASS pio-loop");
        var many = vmm.Run(pio, $"iterations={manyIterations}", "PASS pio-loop");
        double exits = 2.0 * (manyIterations - fewIterations);
        pioRate[vmm.Name].Add(exits / ((many.TotalMs - few.TotalMs) / 1000.0));
        Console.Error.WriteLine($"round {round} {vmm.Name,-10} first byte {boot.FirstByteMs,8:0.0} ms   pio {pioRate[vmm.Name][^1],10:0} exits/s");
    }
}
Directory.Delete(dir, recursive: true);

double svBoot = Median(firstByte["sharpvisor"]), qBoot = Median(firstByte["qemu"]);
double svPio = Median(pioRate["sharpvisor"]), qPio = Median(pioRate["qemu"]);
Console.WriteLine();
Console.WriteLine($"{"figure",-36} {"sharpvisor",12} {"qemu",12} {"ratio",8}");
Console.WriteLine($"{"boot to first serial byte (ms)",-36} {svBoot,12:0.0} {qBoot,12:0.0} {svBoot / qBoot,8:0.00}");
Console.WriteLine($"{"port-I/O exits per second",-36} {svPio,12:0} {qPio,12:0} {svPio / qPio,8:0.00}");
Console.WriteLine("(boot: lower is better, ratio sharpvisor/qemu; exits/s: higher is better, ratio sharpvisor/qemu)");
Console.WriteLine(JsonSerializer.Serialize(new
{
    bench = "kvm-exits",
    date = DateTime.UtcNow.ToString("yyyy-MM-dd"),
    rounds,
    boot_first_byte_ms = new { sharpvisor = Math.Round(svBoot, 1), qemu = Math.Round(qBoot, 1), ratio = Math.Round(svBoot / qBoot, 2) },
    pio_exits_per_second = new { sharpvisor = Math.Round(svPio), qemu = Math.Round(qPio), ratio = Math.Round(svPio / qPio, 2) },
}));
return 0;

static double Median(List<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
}
