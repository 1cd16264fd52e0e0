using Sharpvisor.Api.Firecracker.Http;

namespace Sharpvisor.Api.Firecracker.MicroVm;

/// <summary>
/// The VMM's log as Firecracker keeps it: levels Error, Warning, Info, Debug, Trace (or Off), one line per event, to
/// the file --log-path or PUT /logger names (appended to), otherwise to stderr (stdout is the guest's console).
/// </summary>
public sealed class FirecrackerLog(string instanceId) : IDisposable
{
    public enum Level { Off, Error, Warning, Info, Debug, Trace }

    private readonly Lock _lock = new();
    private TextWriter _output = Console.Error;
    private bool _ownsOutput;
    private Level _level = Level.Info;
    private bool _showLevel = true;

    public static Level ParseLevel(string text) =>
        Enum.TryParse<Level>(text, ignoreCase: true, out var level) && Enum.IsDefined(level) && !int.TryParse(text, out _)
            ? level
            : throw new ApiFaultException($"'level' must be one of Error, Warning, Info, Debug, Trace, Off; not \"{text}\"");

    public void Configure(string? path, Level? level, bool? showLevel)
    {
        TextWriter? opened = path is null ? null : AppendOnlyFile.Open(path, "log_path");
        lock (_lock)
        {
            if (opened is not null)
            {
                if (_ownsOutput) _output.Dispose();
                _output = opened;
                _ownsOutput = true;
            }
            if (level is { } l) _level = l;
            if (showLevel is { } s) _showLevel = s;
        }
    }

    public void Error(string message) => Write(Level.Error, message);
    public void Warning(string message) => Write(Level.Warning, message);
    public void Info(string message) => Write(Level.Info, message);
    public void Debug(string message) => Write(Level.Debug, message);

    public void Write(Level level, string message)
    {
        lock (_lock)
        {
            if (level > _level || _level == Level.Off) return;
            string tag = _showLevel ? $"{instanceId}:{level.ToString().ToUpperInvariant()}" : instanceId;
            _output.WriteLine($"{DateTime.UtcNow:yyyy-MM-ddTHH:mm:ss.ffffff} [{tag}] {message}");
        }
    }

    public void Dispose()
    {
        lock (_lock) if (_ownsOutput) _output.Dispose();
    }
}
