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
    [InlineData("/img/a.qcow2,format=qcow2", "/img/a.qcow2", false, "qcow2")]
    [InlineData("/img/a.raw,format=raw,ro", "/img/a.raw", true, "raw")]
    [InlineData("/img/with,comma.raw,ro,format=raw", "/img/with,comma.raw", true, "raw")]
    public void Parses_a_named_format(string text, string path, bool readOnly, string format)
    {
        Assert.Equal(new DiskSpec(path, readOnly, format), DiskSpec.Parse(text));
        Assert.Equal(DiskSpec.Parse(text), DiskSpec.Parse(DiskSpec.Parse(text).ToString()));
    }

    [Theory]
    [InlineData("")]
    [InlineData(",ro")]
    [InlineData("/img/a.raw,readonly")]
    [InlineData("/img/a.raw,format=vmdk")]
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
