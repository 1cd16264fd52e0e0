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

    public void Dispose() { }
}
