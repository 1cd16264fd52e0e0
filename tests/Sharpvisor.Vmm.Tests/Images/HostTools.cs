using System.Diagnostics;

namespace Sharpvisor.Vmm.Tests.Images;

/// <summary>Runs host programs in tests and installs Debian's cpio when it is missing.</summary>
internal static class HostTools
{
    private static readonly Lazy<string> CpioPath = new(() =>
    {
        if (File.Exists("/usr/bin/cpio")) return "/usr/bin/cpio";
        var update = Run("apt-get", ["update", "-q"], null);
        var install = Run("apt-get", ["install", "-y", "-q", "cpio"], null);
        Assert.True(install.ExitCode == 0, $"cannot install cpio: {update.Error}{install.Error}");
        return "/usr/bin/cpio";
    });

    public static string Cpio => CpioPath.Value;

    public static (int ExitCode, string Output, string Error) Run(string file, IEnumerable<string> arguments,
        string? workingDirectory, byte[]? input = null)
    {
        var start = new ProcessStartInfo(file)
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            WorkingDirectory = workingDirectory ?? Environment.CurrentDirectory,
        };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        start.Environment["LC_ALL"] = "C";
        using var process = Process.Start(start)!;
        var output = process.StandardOutput.ReadToEndAsync();
        var error = process.StandardError.ReadToEndAsync();
        if (input is not null) process.StandardInput.BaseStream.Write(input);
        process.StandardInput.Close();
        process.WaitForExit();
        return (process.ExitCode, output.Result, error.Result);
    }
}
