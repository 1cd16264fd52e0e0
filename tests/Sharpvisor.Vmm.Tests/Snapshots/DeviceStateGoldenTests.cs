using System.Text.Json;
using System.Text.Json.Nodes;
using Sharpvisor.Vmm.Snapshots;

namespace Sharpvisor.Vmm.Tests.Snapshots;

/// <summary>
/// Each device's record as checked-in JSON (<c>DeviceStates/{kind}.v{version}.json</c>), read strictly and written
/// back: a field renamed, added or removed fails here instead of loading as a default from older snapshots. When a
/// record changes, raise its <c>CurrentVersion</c> and add the new file beside the old one, which is then refused.
/// </summary>
public sealed class DeviceStateGoldenTests
{
    private static string Folder => Path.Combine(AppContext.BaseDirectory, "Snapshots", "DeviceStates");

    public static TheoryData<string> Kinds => new(DeviceStateRegistry.Default.Codecs.Select(c => c.Kind));

    private static DeviceStateEntry Golden(string kind, int version) =>
        new("golden", kind, version, JsonSerializer.Deserialize<JsonElement>(File.ReadAllText(GoldenPath(kind, version))));

    private static string GoldenPath(string kind, int version) => Path.Combine(Folder, $"{kind}.v{version}.json");

    [Theory]
    [MemberData(nameof(Kinds))]
    public void The_golden_record_of_the_current_version_round_trips(string kind)
    {
        var codec = DeviceStateRegistry.Default.For(kind)!;
        Assert.True(File.Exists(GoldenPath(kind, codec.Version)), $"add {GoldenPath(kind, codec.Version)}, the {kind} record at version {codec.Version}");
        var entry = Golden(kind, codec.Version);
        var written = JsonSerializer.SerializeToNode(codec.Read(entry), codec.StateType, DeviceStateJson.Options);
        Assert.True(JsonNode.DeepEquals(JsonNode.Parse(entry.State.GetRawText()), written), $"{kind} wrote back {written?.ToJsonString()}");
    }

    [Fact]
    public void Every_golden_file_is_of_a_registered_kind_and_older_versions_are_refused()
    {
        var files = Directory.GetFiles(Folder, "*.json");
        Assert.NotEmpty(files);
        foreach (var file in files)
        {
            var name = Path.GetFileNameWithoutExtension(file);
            int dot = name.LastIndexOf(".v", StringComparison.Ordinal);
            var (kind, version) = (name[..dot], int.Parse(name[(dot + 2)..]));
            var codec = DeviceStateRegistry.Default.For(kind);
            Assert.True(codec is not null, $"{file} is of no registered kind");
            if (version != codec.Version)
                Assert.Contains($"is version {version}; this build reads version {codec.Version}",
                    Assert.Throws<SnapshotException>(() => codec.Read(Golden(kind, version))).Message);
        }
    }
}
