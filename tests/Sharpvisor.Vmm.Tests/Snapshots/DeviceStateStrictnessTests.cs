using System.Text.Json;
using System.Text.Json.Nodes;
using Sharpvisor.Vmm.Snapshots;

namespace Sharpvisor.Vmm.Tests.Snapshots;

/// <summary>A device record that is not exactly this build's is refused, saying which member and which device.</summary>
public sealed class DeviceStateStrictnessTests
{
    private static JsonObject GoldenJson(string kind, int version = 1) =>
        JsonNode.Parse(File.ReadAllText(Path.Combine(AppContext.BaseDirectory, "Snapshots", "DeviceStates", $"{kind}.v{version}.json")))!.AsObject();

    private static string Refusal(string kind, JsonNode record, int version = 1)
    {
        var entry = new DeviceStateEntry("com1", kind, version, JsonSerializer.SerializeToElement(record));
        return Assert.Throws<SnapshotException>(() => DeviceStateRegistry.Default.For(kind)!.Read(entry)).Message;
    }

    [Theory]
    [InlineData("ParityError", true)] // unknown: a member this build does not have
    [InlineData("Scratch", false)] // missing: a member this build needs
    public void An_unknown_or_a_missing_member_is_refused_by_name(string member, bool add)
    {
        var record = GoldenJson("uart16550");
        if (add) record[member] = true;
        else Assert.True(record.Remove(member));
        var message = Refusal("uart16550", record);
        Assert.Contains($"'{member}'", message);
        Assert.Contains("the uart16550 state of com1", message);
    }

    [Fact]
    public void A_member_missing_from_a_nested_record_is_refused_by_name()
    {
        var record = GoldenJson("virtio-pci");
        record["Queues"]![1]!.AsObject().Remove("UsedIndex");
        Assert.Contains("'UsedIndex'", Refusal("virtio-pci", record));
    }

    [Fact]
    public void Null_where_the_record_allows_none_is_refused()
    {
        var record = GoldenJson("uart16550");
        record["ReceiveFifo"] = null;
        Assert.Contains("ReceiveFifo", Refusal("uart16550", record));
    }

    public static TheoryData<string> Kinds => new(DeviceStateRegistry.Default.Codecs.Select(c => c.Kind));

    [Theory]
    [MemberData(nameof(Kinds))]
    public void Another_version_is_refused_with_one_message_for_every_device(string kind)
    {
        var codec = DeviceStateRegistry.Default.For(kind)!;
        Assert.Equal($"the {kind} state of com1 is version {codec.Version + 1}; this build reads version {codec.Version}",
            Refusal(kind, GoldenJson(kind, codec.Version), codec.Version + 1));
    }
}
