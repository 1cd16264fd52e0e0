using System.Diagnostics;
using Sharpvisor.Host.Confinement;

namespace Sharpvisor.Host.Networks;

/// <summary>Runs a host tool (ip, nft) from the system directories and turns a failure into an <see cref="IOException"/> carrying its stderr.</summary>
public static class HostCommand
{
    public static string Run(string tool, params string[] arguments) => RunWithInput(tool, null, arguments);

    /// <summary>Runs <paramref name="tool"/> with <paramref name="input"/> on its stdin (nft -f -); returns its stdout.</summary>
    public static string RunWithInput(string tool, string? input, params string[] arguments)
    {
        var start = new ProcessStartInfo(HostTools.Find(tool) ?? tool)
        {
            RedirectStandardError = true, RedirectStandardOutput = true, RedirectStandardInput = input is not null, UseShellExecute = false,
        };
        foreach (var a in arguments) start.ArgumentList.Add(a);
        using var process = Process.Start(start) ?? throw new IOException($"{tool} did not start");
        if (input is not null)
        {
            process.StandardInput.Write(input);
            process.StandardInput.Close();
        }
        var error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        if (process.ExitCode != 0) throw new IOException($"{tool} {string.Join(' ', arguments)}: {error.Result.Trim()}");
        return output;
    }
}
