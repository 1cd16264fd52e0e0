using System.Diagnostics;
using System.Text;

namespace Sharpvisor.Bench.KvmExits;

/// <summary>One VMM under test: how to start it on a kernel, and the timing of a run as seen from outside.</summary>
internal sealed class Vmm(string name, string program, Func<string, string[]> arguments, string commandLineOption)
{
    public sealed record Timing(double FirstByteMs, double TotalMs);

    public string Name { get; } = name;

    public Timing Run(string kernel, string? commandLine, string expectedLine)
    {
        var info = new ProcessStartInfo(program) { RedirectStandardOutput = true, RedirectStandardError = true, RedirectStandardInput = true };
        foreach (var a in arguments(kernel)) info.ArgumentList.Add(a);
        if (commandLine is not null) { info.ArgumentList.Add(commandLineOption); info.ArgumentList.Add(commandLine); }
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(info)!;
        process.StandardInput.Close();
        var stderr = process.StandardError.ReadToEndAsync();
        var output = new MemoryStream();
        double firstByte = -1;
        var buffer = new byte[4096];
        int n;
        while ((n = process.StandardOutput.BaseStream.Read(buffer, 0, buffer.Length)) > 0)
        {
            if (firstByte < 0) firstByte = clock.Elapsed.TotalMilliseconds;
            output.Write(buffer, 0, n);
        }
        if (!process.WaitForExit(120_000)) { process.Kill(true); throw new TimeoutException($"{Name} did not finish"); }
        double total = clock.Elapsed.TotalMilliseconds;
        string text = Encoding.ASCII.GetString(output.ToArray());
        if (!text.Contains(expectedLine))
            throw new InvalidOperationException($"{Name} on {Path.GetFileName(kernel)} did not print '{expectedLine}':\n{text}\n{stderr.Result}");
        return new Timing(firstByte, total);
    }
}
