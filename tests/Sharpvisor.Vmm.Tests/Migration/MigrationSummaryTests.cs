using Sharpvisor.Vmm.Migration;

namespace Sharpvisor.Vmm.Tests.Migration;

public sealed class MigrationSummaryTests
{
    [Fact]
    public void The_JSON_line_carries_the_downtime_and_its_parts_and_reads_back()
    {
        var summary = new MigrationSummary("127.0.0.1:4444", TimeSpan.FromMilliseconds(1234.5), TimeSpan.FromMilliseconds(40),
            3, 1 << 20, 300, 12, TimeSpan.FromMilliseconds(1), TimeSpan.FromMilliseconds(9), TimeSpan.FromMilliseconds(10),
            TimeSpan.FromMilliseconds(20));
        string json = summary.ToJson();
        Assert.Contains("\"downtime_ms\":40", json);
        Assert.Contains("\"downtime_parts\":{\"pause_ms\":1,\"last_pages_ms\":9,\"state_ms\":10,\"destination_ms\":20}", json);
        Assert.Equal(summary, MigrationSummary.FromJson(json));
    }
}
