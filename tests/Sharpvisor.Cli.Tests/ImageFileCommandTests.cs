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

    [SkippableFact]
    public void Convert_turns_a_compressed_qemu_image_into_raw_and_back_into_compressed_qcow2_that_qemu_img_compares_equal()
    {
        HostRequires.Tool("qemu-img", "qemu-utils");
        string source = Path.Combine(_directory, "source.qcow2"), raw = Path.Combine(_directory, "copy.raw"), packed = Path.Combine(_directory, "copy.qcow2");
        Assert.Equal(0, Run("qemu-img", $"create -f qcow2 {source} 4M").ExitCode);
        Assert.Equal(0, Run("qemu-io", $"-c \"write -P 0x61 0 300k\" -c \"write -P 0x62 3M 5000\" {source}").ExitCode);

        var toRaw = SharpvisorProcess.Run($"image convert -O raw {source} {raw}");
        Assert.True(toRaw.ExitCode == 0, toRaw.Stderr);
        var toQcow2 = SharpvisorProcess.Run($"image convert -f raw -O qcow2 -c {raw} {packed}");
        Assert.True(toQcow2.ExitCode == 0, toQcow2.Stderr);

        Assert.Equal(4L << 20, new FileInfo(raw).Length);
        var compare = Run("qemu-img", $"compare {source} {raw}");
        Assert.True(compare.ExitCode == 0, compare.Output);
        compare = Run("qemu-img", $"compare {source} {packed}");
        Assert.True(compare.ExitCode == 0, compare.Output);
        var check = Run("qemu-img", $"check {packed}");
        Assert.True(check.ExitCode == 0, check.Output);
        Assert.Contains("No errors were found", check.Output);
        Assert.Matches(@"[1-9][0-9.]*% compressed clusters", check.Output);
    }

    [Fact]
    public void Convert_refuses_compression_into_raw_and_a_missing_source_without_creating_anything()
    {
        string source = Path.Combine(_directory, "s.raw"), target = Path.Combine(_directory, "t.raw");
        File.WriteAllBytes(source, new byte[65536]);
        Assert.Equal(2, SharpvisorProcess.Run($"image convert -O raw -c {source} {target}").ExitCode);
        Assert.Equal(2, SharpvisorProcess.Run($"image convert -O vmdk {source} {target}").ExitCode);
        var missing = SharpvisorProcess.Run($"image convert -O raw {source}.missing {target}");
        Assert.Equal(3, missing.ExitCode);
        Assert.Contains("cannot convert", missing.Stderr);
        Assert.Empty(Directory.GetFiles(_directory, "*t.raw*"));
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
