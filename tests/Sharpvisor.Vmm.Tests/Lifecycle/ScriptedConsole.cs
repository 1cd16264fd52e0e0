using System.Text;
using Sharpvisor.Vmm.Serial;

namespace Sharpvisor.Vmm.Tests.Lifecycle;

/// <summary>A serial backend a test drives like a person at the console: it types lines and waits for text.</summary>
internal sealed class ScriptedConsole : ISerialBackend
{
    private readonly StringBuilder _output = new();
    private readonly object _lock = new();
    private Action<ReadOnlySpan<byte>>? _toGuest;

    public string Output { get { lock (_lock) return _output.ToString(); } }

    public void Write(byte value)
    {
        lock (_lock)
        {
            _output.Append((char)value);
            Monitor.PulseAll(_lock);
        }
    }

    public void Start(Action<ReadOnlySpan<byte>> toGuest, Action quit) => _toGuest = toGuest;

    public void Type(string text) => _toGuest!(Encoding.ASCII.GetBytes(text));

    /// <summary>Waits until the output after <paramref name="from"/> contains <paramref name="text"/>; returns the index after it.</summary>
    public int WaitFor(string text, int from, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        lock (_lock)
        {
            while (true)
            {
                int at = _output.ToString().IndexOf(text, Math.Min(from, _output.Length), StringComparison.Ordinal);
                if (at >= 0) return at + text.Length;
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero)
                    throw new TimeoutException($"'{text}' did not appear within {timeout.TotalSeconds:0} s; the console showed:\n{_output}");
                Monitor.Wait(_lock, left);
            }
        }
    }

    /// <summary>
    /// Types <paramref name="command"/> followed by an echo of a marker the shell computes, so the typed line cannot
    /// match it; returns what the command printed and moves <paramref name="at"/> past the marker.
    /// </summary>
    public string Execute(string command, int sequence, ref int at, TimeSpan timeout)
    {
        Type($"{command}; echo @@$((1000+{sequence}))@@\n");
        string marker = $"@@{1000 + sequence}@@";
        int end = WaitFor(marker, at, timeout);
        string text = Output[at..(end - marker.Length)];
        at = end;
        return text;
    }

    /// <summary>The non-empty lines of console text, trimmed (the serial line ends them with CR LF).</summary>
    public static string[] Lines(string text) =>
        text.Replace("\r", "").Split('\n').Select(l => l.Trim()).Where(l => l.Length > 0).ToArray();

    public void Dispose() { }
}
