using Xunit.Abstractions;

namespace Sharpvisor.Oracle.Tests;

public sealed class ThroughputTests(ITestOutputHelper output)
{
    [Fact]
    public void Throughput_is_measured_and_printed()
    {
        foreach (ThroughputBenchmark.Result result in ThroughputBenchmark.Measure(inProcessCases: 200_000, isolatedCases: 20_000))
        {
            output.WriteLine(result.ToString());
            Assert.True(result.Cases > 0 && result.Seconds > 0);
        }
    }
}
