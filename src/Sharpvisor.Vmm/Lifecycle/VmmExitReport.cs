using System.Text.Json;
using System.Text.Json.Serialization;
using Sharpvisor.Vmm.Images;

namespace Sharpvisor.Vmm.Lifecycle;

/// <summary>
/// How a VMM process ended, written atomically as its last act (`run --exit-report PATH`), so whoever supervises it
/// learns why even when it is not the process's parent (a daemon that restarted while the VM ran). A VMM killed by a
/// signal writes nothing: a missing report means it did not end on its own.
/// </summary>
public sealed record VmmExitReport(int Version, int ExitCode, VmOutcome Outcome, string Message, DateTimeOffset EndedAt)
{
    public const int CurrentVersion = 1;

    private static readonly JsonSerializerOptions Json = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        Converters = { new JsonStringEnumConverter() },
    };

    public void Write(string path) => AtomicFile.WriteAllBytes(path, JsonSerializer.SerializeToUtf8Bytes(this, Json));

    /// <summary>The report at <paramref name="path"/>, or null when there is none or it cannot be read (it says so in <paramref name="problem"/>).</summary>
    public static VmmExitReport? TryRead(string path, out string? problem)
    {
        problem = null;
        try
        {
            var report = JsonSerializer.Deserialize<VmmExitReport>(File.ReadAllBytes(path), Json);
            if (report?.Version == CurrentVersion) return report;
            problem = $"{path}: version {report?.Version} is not {CurrentVersion}";
        }
        catch (FileNotFoundException) { }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or JsonException)
        {
            problem = $"{path}: {e.Message}";
        }
        return null;
    }
}
