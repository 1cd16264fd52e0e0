using Sharpvisor.Vmm.Configuration;

namespace Sharpvisor.Vmm.Tests.Networking;

/// <summary>--net tap=NAME[,mac=..]: parsing, the derived MAC address, and what VmConfig refuses.</summary>
public sealed class NetSpecTests
{
    [Theory]
    [InlineData("tap=tap0", "tap0", null)]
    [InlineData("tap=vm-net.1,mac=52:54:00:12:34:56", "vm-net.1", "52:54:00:12:34:56")]
    [InlineData("mac=02:AB:cd:00:00:01,tap=t", "t", "02:ab:cd:00:00:01")]
    public void Parses_the_tap_and_the_MAC(string text, string tap, string? mac) =>
        Assert.Equal(new NetSpec(tap, mac), NetSpec.Parse(text));

    [Theory]
    [InlineData("", "names no tap")]
    [InlineData("mac=52:54:00:12:34:56", "names no tap")]
    [InlineData("tap=", "not a valid interface name")]
    [InlineData("tap=a-name-that-is-too-long", "not a valid interface name")]
    [InlineData("tap=a/b", "not a valid interface name")]
    [InlineData("tap=t,mac=52:54:00:12:34", "not a MAC address")]
    [InlineData("tap=t,mac=01:00:5e:00:00:01", "multicast")]
    [InlineData("tap=t,mac=00:00:00:00:00:00", "not a usable MAC")]
    [InlineData("tap=t,tap=u", "given twice")]
    [InlineData("tap=t,model=e1000", "is not tap=NAME or mac=ADDRESS")]
    [InlineData("user", "is not tap=NAME or mac=ADDRESS")]
    public void Rejects_bad_specs_saying_why(string text, string why) =>
        Assert.Contains(why, Assert.Throws<FormatException>(() => NetSpec.Parse(text)).Message);

    [Fact]
    public void The_default_MAC_is_QEMUs_prefix_and_the_same_for_the_same_tap_on_every_run()
    {
        string mac = new NetSpec("tap0").MacAddress;
        Assert.Matches("^52:54:00:[0-9a-f]{2}:[0-9a-f]{2}:[0-9a-f]{2}$", mac);
        Assert.Equal("52:54:00:db:ea:44", NetSpec.DefaultMacFor("tap0"));   // SHA-256("sharpvisor-net:tap0") starts dbea44
        Assert.NotEqual(mac, new NetSpec("tap1").MacAddress);
        Assert.Equal([0x52, 0x54, 0x00, 0x12, 0x34, 0x56], new NetSpec("t", "52:54:00:12:34:56").MacBytes());
        Assert.Equal("tap=t,mac=52:54:00:12:34:56", NetSpec.Parse("tap=t,mac=52:54:00:12:34:56").ToString());
    }

    [Fact]
    public void Validation_refuses_a_tap_or_a_MAC_given_twice()
    {
        string kernel = Path.GetTempFileName();
        try
        {
            var config = new VmConfig { KernelPath = kernel, Networks = [new NetSpec("a"), new NetSpec("b")] };
            Assert.Same(config, config.Validated(0));
            Assert.Contains("tap a is given to more than one", Assert.Throws<FormatException>(() =>
                (config with { Networks = [new NetSpec("a"), new NetSpec("a", "52:54:00:00:00:01")] }).Validated(0)).Message);
            Assert.Contains("MAC address 52:54:00:00:00:01", Assert.Throws<FormatException>(() =>
                (config with { Networks = [new NetSpec("a", "52:54:00:00:00:01"), new NetSpec("b", "52:54:00:00:00:01")] }).Validated(0)).Message);
        }
        finally
        {
            File.Delete(kernel);
        }
    }
}
