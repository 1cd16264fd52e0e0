namespace Sharpvisor.Vmm.Tests.Images;

/// <summary>Collects progress lines as they are reported (Progress&lt;T&gt; would post them to a thread pool later).</summary>
internal sealed class SynchronousProgress(List<string> lines) : IProgress<string>
{
    public void Report(string value)
    {
        lock (lines) lines.Add(value);
    }
}
