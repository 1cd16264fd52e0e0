using Sharpvisor.Vmm.Configuration;

namespace Sharpvisor.Vmm.Tests.Configuration;

public sealed class DiskSpecTests
{
    [Theory]
    [InlineData("/img/a.raw", "/img/a.raw", false)]
    [InlineData("/img/a.raw,ro", "/img/a.raw", true)]
    [InlineData("/img/a.raw,rw", "/img/a.raw", false)]
    [InlineData("/img/with,comma.raw,ro", "/img/with,comma.raw", true)]
    public void Parses_path_and_mode(string text, string path, bool readOnly) =>
        Assert.Equal(new DiskSpec(path, readOnly), DiskSpec.Parse(text));

    [Theory]
    [InlineData("")]
    [InlineData(",ro")]
    [InlineData("/img/a.raw,readonly")]
    public void Rejects_bad_specs(string text) => Assert.Throws<FormatException>(() => DiskSpec.Parse(text));

    [Fact]
    public void Validation_refuses_missing_and_tiny_disks()
    {
        string kernel = Path.GetTempFileName(), tiny = Path.GetTempFileName();
        try
        {
            File.WriteAllBytes(tiny, new byte[100]);
            var config = new VmConfig { KernelPath = kernel, Disks = [new DiskSpec("/nonexistent/disk.img")] };
            Assert.Contains("does not exist", Assert.Throws<FormatException>(() => config.Validated(0)).Message);
            config = config with { Disks = [new DiskSpec(tiny)] };
            Assert.Contains("smaller than one 512-byte sector", Assert.Throws<FormatException>(() => config.Validated(0)).Message);
        }
        finally
        {
            File.Delete(kernel);
            File.Delete(tiny);
        }
    }
}
