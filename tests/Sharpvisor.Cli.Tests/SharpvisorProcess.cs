using System.Diagnostics;
using System.Text;

namespace Sharpvisor.Cli.Tests;

/// <summary>Runs the built CLI (sharpvisor.dll beside the tests) as a separate process, as a user would.</summary>
internal static class SharpvisorProcess
{
    public sealed record Result(int ExitCode, string Stdout, string Stderr);

    public static string DllPath => Path.Combine(AppContext.BaseDirectory, "sharpvisor.dll");

    public static Result Run(string arguments, string? stdin = null, int timeoutSeconds = 120, string? wrapWithScript = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        var info = new ProcessStartInfo(wrapWithScript is null ? "dotnet" : "script")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        foreach (var (name, value) in environment ?? new Dictionary<string, string>()) info.Environment[name] = value;
        if (wrapWithScript is null)
        {
            info.ArgumentList.Add(DllPath);
            foreach (var a in SplitArgs(arguments)) info.ArgumentList.Add(a);
        }
        else
        {
            // script(1) gives the CLI a pseudo-terminal, so raw mode and Ctrl-A escapes are exercised.
            foreach (var a in new[] { "-qfec", $"dotnet {DllPath} {arguments}", "/dev/null" }) info.ArgumentList.Add(a);
        }
        using var process = Process.Start(info)!;
        var stdout = new StringBuilder();
        var stderr = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data != null) lock (stdout) stdout.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (stderr) stderr.AppendLine(e.Data); };
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (stdin != null) process.StandardInput.Write(stdin);
        if (wrapWithScript != null)
        {
            Thread.Sleep(TimeSpan.FromSeconds(3));
            process.StandardInput.Write(wrapWithScript);
            process.StandardInput.Flush();
        }
        process.StandardInput.Close();
        if (!process.WaitForExit(timeoutSeconds * 1000))
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"sharpvisor {arguments} did not finish in {timeoutSeconds} s; stdout so far:\n{stdout}\nstderr:\n{stderr}");
        }
        process.WaitForExit();
        return new Result(process.ExitCode, stdout.ToString(), stderr.ToString());
    }

    private static IEnumerable<string> SplitArgs(string arguments) =>
        arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries);
}
