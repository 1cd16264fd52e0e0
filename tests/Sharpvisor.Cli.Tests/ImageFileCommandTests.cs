using System.Diagnostics;
using System.Text.Json;

namespace Sharpvisor.Cli.Tests;

/// <summary>`image create` and `image info` as a user runs them, with qemu-img as the oracle for what they wrote.</summary>
public sealed class ImageFileCommandTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("sharpvisor-image-cli-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [SkippableFact]
    public void A_qcow2_overlay_on_a_raw_base_takes_its_size_and_info_shows_the_chain()
    {
        HostRequires.Tool("qemu-img", "qemu-utils");
        string basePath = Path.Combine(_directory, "base.raw"), overlay = Path.Combine(_directory, "overlay.qcow2");
        Assert.Equal(0, SharpvisorProcess.Run($"image create -f raw {basePath} 3000").ExitCode); // bytes, as qemu-img: 3072
        Assert.Equal(3072, new FileInfo(basePath).Length);
        var create = SharpvisorProcess.Run($"image create -f qcow2 -b base.raw {overlay}");
        Assert.True(create.ExitCode == 0, create.Stderr);

        var info = SharpvisorProcess.Run($"image info --json {overlay}");
        Assert.True(info.ExitCode == 0, info.Stderr);
        var chain = JsonDocument.Parse(info.Stdout).RootElement.EnumerateArray().ToArray();
        Assert.Equal(["qcow2", "raw"], chain.Select(i => i.GetProperty("format").GetString()));
        Assert.All(chain, i => Assert.Equal(3072, i.GetProperty("virtualSize").GetInt64()));
        Assert.Equal("base.raw", chain[0].GetProperty("backingFile").GetString());

        var check = Run("qemu-img", $"check {overlay}");
        Assert.True(check.ExitCode == 0, check.Output);
        Assert.Contains("No errors were found", check.Output);
        Assert.Contains("backing file: base.raw", Run("qemu-img", $"info {overlay}").Output);
    }

    [SkippableTheory]
    [InlineData("10G", 10L << 30)]
    [InlineData("64K", 64L << 10)]
    [InlineData("1000", 1024)]
    public void A_qcow2_image_has_the_size_asked_for(string size, long expected)
    {
        HostRequires.Tool("qemu-img", "qemu-utils");
        string path = Path.Combine(_directory, "disk.qcow2");
        Assert.Equal(0, SharpvisorProcess.Run($"image create -f qcow2 {path} {size}").ExitCode);
        var info = JsonDocument.Parse(Run("qemu-img", $"info --output=json {path}").Output).RootElement;
        Assert.Equal(expected, info.GetProperty("virtual-size").GetInt64());
        Assert.Equal(0, Run("qemu-img", $"check {path}").ExitCode);
    }

    [Fact]
    public void Bad_sizes_and_existing_files_are_refused_with_exit_2()
    {
        string path = Path.Combine(_directory, "x.qcow2");
        var bad = SharpvisorProcess.Run($"image create -f qcow2 {path} 12Q");
        Assert.Equal(2, bad.ExitCode);
        Assert.False(File.Exists(path));
        File.WriteAllText(path, "keep me");
        var exists = SharpvisorProcess.Run($"image create -f qcow2 {path} 1M");
        Assert.NotEqual(0, exists.ExitCode);
        Assert.Equal("keep me", File.ReadAllText(path));
    }

    private static (int ExitCode, string Output) Run(string file, string arguments)
    {
        var info = new ProcessStartInfo(file, arguments) { RedirectStandardOutput = true, RedirectStandardError = true };
        using var process = Process.Start(info)!;
        string output = process.StandardOutput.ReadToEnd() + process.StandardError.ReadToEnd();
        process.WaitForExit();
        return (process.ExitCode, output);
    }
}
