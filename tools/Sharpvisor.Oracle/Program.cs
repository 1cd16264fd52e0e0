using System.CommandLine;
using System.CommandLine.Help;
using Sharpvisor.Oracle.Isolation;

namespace Sharpvisor.Oracle;

internal static class Program
{
    private const int BadArguments = 64; // EX_USAGE

    private static int Main(string[] args)
    {
        var noRecover = new Option<bool>("--no-recover")
        {
            Description = "Leave the fault signals at their default action: a faulting case kills the worker (the parent reports the signal).",
        };
        var worker = new Command("worker", "Run cases read from stdin, writing one outcome per case to stdout (the isolated runner's child).") { noRecover };
        worker.SetAction(parse =>
        {
            using Stream input = Console.OpenStandardInput(), output = Console.OpenStandardOutput();
            return OracleWorker.Run(input, new BufferedStream(output, 64 * 1024), recoverFaults: !parse.GetValue(noRecover));
        });

        var cases = new Argument<int>("cases") { Description = "How many cases to run.", DefaultValueFactory = _ => 1_000_000 };
        var bench = new Command("bench", "Cases per second through the native runner.") { cases };
        bench.SetAction(parse => ThroughputBenchmark.Run(parse.GetValue(cases), Console.Out));

        var root = new RootCommand("Sharpvisor.Oracle: runs single instructions on the host CPU for the emulator's differential tests.") { worker, bench };
        var parsed = root.Parse(args);
        if (parsed.Errors.Count > 0 && parsed.Action is not HelpAction)
        {
            foreach (var error in parsed.Errors) Console.Error.WriteLine($"Sharpvisor.Oracle: {error.Message}");
            Console.Error.WriteLine("usage: Sharpvisor.Oracle worker [--no-recover] | bench [cases]");
            return BadArguments;
        }
        return parsed.Invoke();
    }
}
