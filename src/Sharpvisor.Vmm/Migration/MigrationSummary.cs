using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sharpvisor.Vmm.Migration;

/// <summary>
/// A completed live migration: total time from the start to the destination's ack, downtime from the pause to the
/// ack, memory rounds (pre-copy plus the final one), bytes on the wire and pages sent (zero pages counted, as markers).
/// </summary>
public sealed record MigrationSummary(
    string Destination,
    TimeSpan Total,
    TimeSpan Downtime,
    int Rounds,
    long BytesSent,
    long PagesSent,
    long ZeroPages)
{
    /// <summary>The `migrate --json` line: {"status":"completed","total_ms":..,"downtime_ms":..,"rounds":..,"bytes_sent":..,"pages_sent":..,...}.</summary>
    public string ToJson() => JsonSerializer.Serialize(new Json("completed", Math.Round(Total.TotalMilliseconds, 3),
        Math.Round(Downtime.TotalMilliseconds, 3), Rounds, BytesSent, PagesSent, ZeroPages, Destination));

    /// <summary>Reads what <see cref="ToJson"/> wrote (the control socket carries it to the `migrate` verb).</summary>
    public static MigrationSummary FromJson(string json)
    {
        var j = JsonSerializer.Deserialize<Json>(json) ?? throw new JsonException("empty migration summary");
        return new MigrationSummary(j.Destination, TimeSpan.FromMilliseconds(j.TotalMs), TimeSpan.FromMilliseconds(j.DowntimeMs),
            j.Rounds, j.BytesSent, j.PagesSent, j.ZeroPages);
    }

    private sealed record Json(
        [property: JsonPropertyName("status")] string Status,
        [property: JsonPropertyName("total_ms")] double TotalMs,
        [property: JsonPropertyName("downtime_ms")] double DowntimeMs,
        [property: JsonPropertyName("rounds")] int Rounds,
        [property: JsonPropertyName("bytes_sent")] long BytesSent,
        [property: JsonPropertyName("pages_sent")] long PagesSent,
        [property: JsonPropertyName("zero_pages")] long ZeroPages,
        [property: JsonPropertyName("destination")] string Destination);
}
