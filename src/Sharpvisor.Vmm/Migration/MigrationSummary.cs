using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sharpvisor.Vmm.Migration;

/// <summary>
/// A completed live migration: total time from the start to the destination's ack, downtime from the pause to the
/// ack, memory rounds (pre-copy plus the final one), bytes on the wire and pages sent (zero pages counted, as markers).
/// The downtime's parts: stopping the vCPUs, the last round of pages, capturing and sending the vCPU and device
/// state, and the destination's share (from the end of the stream to its ack: loading the state and starting).
/// </summary>
public sealed record MigrationSummary(
    string Destination,
    TimeSpan Total,
    TimeSpan Downtime,
    int Rounds,
    long BytesSent,
    long PagesSent,
    long ZeroPages,
    TimeSpan Pausing = default,
    TimeSpan LastPages = default,
    TimeSpan State = default,
    TimeSpan DestinationShare = default)
{
    /// <summary>The `migrate --json` line: {"status":"completed","total_ms":..,"downtime_ms":..,"rounds":..,"bytes_sent":..,"pages_sent":..,...}.</summary>
    public string ToJson() => JsonSerializer.Serialize(new Json("completed", Math.Round(Total.TotalMilliseconds, 3),
        Math.Round(Downtime.TotalMilliseconds, 3), Rounds, BytesSent, PagesSent, ZeroPages, Destination,
        new Parts(Ms(Pausing), Ms(LastPages), Ms(State), Ms(DestinationShare))));

    private static double Ms(TimeSpan t) => Math.Round(t.TotalMilliseconds, 3);

    /// <summary>Reads what <see cref="ToJson"/> wrote (the control socket carries it to the `migrate` verb).</summary>
    public static MigrationSummary FromJson(string json)
    {
        var j = JsonSerializer.Deserialize<Json>(json) ?? throw new JsonException("empty migration summary");
        return new MigrationSummary(j.Destination, TimeSpan.FromMilliseconds(j.TotalMs), TimeSpan.FromMilliseconds(j.DowntimeMs),
            j.Rounds, j.BytesSent, j.PagesSent, j.ZeroPages, TimeSpan.FromMilliseconds(j.DowntimeParts?.PauseMs ?? 0),
            TimeSpan.FromMilliseconds(j.DowntimeParts?.LastPagesMs ?? 0), TimeSpan.FromMilliseconds(j.DowntimeParts?.StateMs ?? 0),
            TimeSpan.FromMilliseconds(j.DowntimeParts?.DestinationMs ?? 0));
    }

    private sealed record Json(
        [property: JsonPropertyName("status")] string Status,
        [property: JsonPropertyName("total_ms")] double TotalMs,
        [property: JsonPropertyName("downtime_ms")] double DowntimeMs,
        [property: JsonPropertyName("rounds")] int Rounds,
        [property: JsonPropertyName("bytes_sent")] long BytesSent,
        [property: JsonPropertyName("pages_sent")] long PagesSent,
        [property: JsonPropertyName("zero_pages")] long ZeroPages,
        [property: JsonPropertyName("destination")] string Destination,
        [property: JsonPropertyName("downtime_parts")] Parts? DowntimeParts);

    private sealed record Parts(
        [property: JsonPropertyName("pause_ms")] double PauseMs,
        [property: JsonPropertyName("last_pages_ms")] double LastPagesMs,
        [property: JsonPropertyName("state_ms")] double StateMs,
        [property: JsonPropertyName("destination_ms")] double DestinationMs);
}
