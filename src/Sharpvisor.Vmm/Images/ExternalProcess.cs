using System.Diagnostics;

namespace Sharpvisor.Vmm.Images;

/// <summary>Runs host tools (apt, dpkg, busybox) with captured output, in the C locale so messages can be matched.</summary>
internal static class ExternalProcess
{
    public static async Task<ExternalProcessResult> RunAsync(string fileName, IEnumerable<string> arguments,
        string? workingDirectory, CancellationToken ct)
    {
        var start = new ProcessStartInfo(fileName)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        start.Environment["LC_ALL"] = "C";
        start.Environment["LANG"] = "C";
        start.Environment["DEBIAN_FRONTEND"] = "noninteractive";
        string command = string.Join(' ', [fileName, .. start.ArgumentList]);

        using var process = new Process { StartInfo = start };
        try
        {
            process.Start();
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new GuestImageException($"Cannot run '{fileName}': {e.Message}", e);
        }
        process.StandardInput.Close();
        Task<string> output = process.StandardOutput.ReadToEndAsync(CancellationToken.None);
        Task<string> error = process.StandardError.ReadToEndAsync(CancellationToken.None);
        try
        {
            await process.WaitForExitAsync(ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            try { process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { /* already gone */ }
            throw;
        }
        return new ExternalProcessResult(command, process.ExitCode, await output.ConfigureAwait(false),
            await error.ConfigureAwait(false));
    }
}
