using System.Text.Json;
using Sharpvisor.Api.Firecracker.Http;

namespace Sharpvisor.Api.Firecracker.MicroVm;

/// <summary>
/// Metrics as Firecracker writes them: once configured (PUT /metrics or the config file), one JSON object per line to
/// metrics_path every 60 s and on FlushMetrics, with utc_timestamp_ms and the groups <paramref name="sample"/> gives.
/// </summary>
public sealed class FirecrackerMetrics(Func<IReadOnlyDictionary<string, object?>> sample) : IDisposable
{
    public static readonly TimeSpan Period = TimeSpan.FromSeconds(60);
    private readonly Lock _lock = new();
    private StreamWriter? _output;
    private Timer? _timer;

    public bool IsConfigured => _output is not null;

    public void Configure(string path)
    {
        var output = AppendOnlyFile.Open(path, "metrics_path");
        lock (_lock)
        {
            if (_output is not null)
            {
                output.Dispose();
                throw new ApiFaultException("metrics are already configured; Firecracker allows it once");
            }
            _output = output;
            _timer = new Timer(_ => FlushQuietly(), null, Period, Period);
        }
    }

    /// <summary>Writes one line now; refused (by the caller's rules) when metrics were never configured.</summary>
    public void Flush()
    {
        lock (_lock)
        {
            if (_output is null) throw new ApiFaultException("FlushMetrics needs metrics configured first (PUT /metrics)");
            var line = new Dictionary<string, object?> { ["utc_timestamp_ms"] = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() };
            foreach (var (group, values) in sample()) line[group] = values;
            _output.WriteLine(JsonSerializer.Serialize(line));
        }
    }

    // The periodic line: a full disk or a removed file loses that line, never the VM.
    private void FlushQuietly()
    {
        try { Flush(); }
        catch (IOException) { }
        catch (ObjectDisposedException) { }
    }

    public void Dispose()
    {
        lock (_lock)
        {
            _timer?.Dispose();
            _output?.Dispose();
        }
    }
}
