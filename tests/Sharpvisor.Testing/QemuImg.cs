using System.Diagnostics;
using Xunit;

namespace Sharpvisor.Testing;

/// <summary>qemu-img and qemu-io (Debian's qemu-utils) as the oracle for our images, and <see cref="Ok"/> for any host tool a test runs.</summary>
public static class QemuImg
{
    public static void Require() => HostRequires.Tool("qemu-img", "qemu-utils");

    public static (int Exit, string Output) Run(string tool, params string[] arguments)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (string a in arguments) start.ArgumentList.Add(a);
        using var process = Process.Start(start)!;
        var error = process.StandardError.ReadToEndAsync();
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output + error.Result);
    }

    public static string Ok(string tool, params string[] arguments)
    {
        var (exit, output) = Run(tool, arguments);
        Assert.True(exit == 0, $"{tool} {string.Join(' ', arguments)} exited {exit}: {output}");
        return output;
    }

    /// <summary>qemu-img check: no errors, no leaks.</summary>
    public static void Check(string image)
    {
        var (exit, output) = Run("qemu-img", "check", image);
        Assert.True(exit == 0, $"qemu-img check exited {exit}: {output}");
        Assert.Contains("No errors were found", output);
        Assert.DoesNotContain("leaked", output);
    }

    /// <summary>What qemu-img reads from the image: the guest-visible bytes.</summary>
    public static byte[] ReadRaw(string image, string workDir)
    {
        string raw = Path.Combine(workDir, $"oracle-{Guid.NewGuid():N}.raw");
        Ok("qemu-img", "convert", "-O", "raw", image, raw);
        try { return File.ReadAllBytes(raw); }
        finally { File.Delete(raw); }
    }
}
