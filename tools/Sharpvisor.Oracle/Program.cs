using Sharpvisor.Oracle.Isolation;

namespace Sharpvisor.Oracle;

internal static class Program
{
    private static int Main(string[] args)
    {
        if (args.Length >= 1 && args[0] == "worker")
        {
            using Stream input = Console.OpenStandardInput(), output = Console.OpenStandardOutput();
            return OracleWorker.Run(input, new BufferedStream(output, 64 * 1024), recoverFaults: !args.Contains("--no-recover"));
        }
        if (args.Length >= 1 && args[0] == "bench")
            return ThroughputBenchmark.Run(args.Length >= 2 ? int.Parse(args[1]) : 1_000_000, Console.Out);
        Console.Error.WriteLine("usage: Sharpvisor.Oracle worker [--no-recover] | bench [cases]");
        return 64;
    }
}
