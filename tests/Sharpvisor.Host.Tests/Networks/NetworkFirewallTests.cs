using Sharpvisor.Host.Networks;
using Sharpvisor.Host.Store;

namespace Sharpvisor.Host.Tests.Networks;

public sealed class NetworkFirewallTests
{
    private static readonly (NetworkDefinition, string)[] Networks =
    [
        (new NetworkDefinition { Name = "lan", Subnet = "10.20.0.0/24" }, "svbaaaa"),
        (new NetworkDefinition { Name = "wan", Subnet = "10.21.0.0/24", Nat = true }, "svbbbbb"),
        (new NetworkDefinition { Name = "dmz", Subnet = "10.22.0.0/16" }, "svbcccc"),
    ];

    [Fact]
    public void Each_network_drops_what_goes_to_the_others_and_only_NAT_networks_are_masqueraded()
    {
        string table = NetworkFirewall.Table("sharpvisor-test", Networks);
        Assert.Contains("iifname \"svbaaaa\" oifname { \"svbbbbb\", \"svbcccc\" } drop", table);
        Assert.Contains("iifname \"svbaaaa\" ip daddr { 10.21.0.1, 10.22.0.1 } drop", table);
        Assert.Contains("iifname \"svbaaaa\" oifname != \"svbaaaa\" drop", table);
        Assert.DoesNotContain("iifname \"svbbbbb\" oifname != \"svbbbbb\" drop", table);
        Assert.Contains("ip saddr 10.21.0.0/24 oifname != \"svbbbbb\" masquerade", table);
        Assert.Single(table.Split('\n'), l => l.Contains("masquerade"));
    }

    [SkippableFact]
    public void Nft_accepts_the_rules()
    {
        HostRequires.Tool("nft", "nftables");
        Skip.IfNot(Environment.IsPrivilegedProcess, "nft --check needs root (CAP_NET_ADMIN)");
        // --check parses and validates against the kernel without changing the ruleset.
        HostCommand.RunWithInput("nft", NetworkFirewall.Table("sharpvisor-check", Networks), "--check", "-f", "-");
    }

    [Fact]
    public void The_store_keeps_networks_and_upgrades_a_schema_1_file()
    {
        string folder = Directory.CreateTempSubdirectory("sv-netstore-").FullName;
        try
        {
            string file = Path.Combine(folder, "sharpvisor.db");
            using (var connection = new Microsoft.Data.Sqlite.SqliteConnection($"Data Source={file};Pooling=False"))
            {
                // What a schema 1 daemon wrote.
                connection.Open();
                using var command = connection.CreateCommand();
                command.CommandText = """
                    CREATE TABLE instances (name TEXT PRIMARY KEY, revision INTEGER NOT NULL, record TEXT NOT NULL);
                    CREATE TABLE snapshots (instance TEXT NOT NULL, name TEXT NOT NULL, record TEXT NOT NULL, PRIMARY KEY (instance, name));
                    INSERT INTO instances VALUES ('old', 1, '{"definition":{"version":1,"name":"old","memory_bytes":268435456,"networks":[{"tap":"tap9"}]}}');
                    PRAGMA user_version = 1;
                    """;
                command.ExecuteNonQuery();
            }
            using (var store = new SqliteHostStore(file))
            {
                var old = store.FindInstance("old")!;
                Assert.Equal(1, old.Definition.Version);
                Assert.Equal("tap9", old.Definition.Networks.Single().Tap);
                Assert.Empty(old.Definition.NetworkNics);
                store.CreateNetwork(new NetworkDefinition { Name = "lan", Subnet = "10.20.0.0/24", Nat = true });
                Assert.Throws<StoreConflictException>(() => store.CreateNetwork(new NetworkDefinition { Name = "lan", Subnet = "10.30.0.0/24" }));
            }
            using (var reopened = new SqliteHostStore(file))
            {
                Assert.Equal(new NetworkDefinition { Name = "lan", Subnet = "10.20.0.0/24", Nat = true }, reopened.FindNetwork("lan"));
                reopened.DeleteNetwork("lan");
                Assert.Empty(reopened.ListNetworks());
            }
        }
        finally
        {
            Directory.Delete(folder, recursive: true);
        }
    }
}
