using Sharpvisor.Host.Confinement;

namespace Sharpvisor.Host.Tests.Confinement;

public sealed class VmmIdentityPoolTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("sharpvisor-ids-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Allocation_skips_ids_in_use_by_vms_accounts_and_groups()
    {
        string passwd = Write("passwd", "root:x:0:0::/root:/bin/sh\nsvc:x:5001:5001::/:/bin/false\n");
        string group = Write("group", "root:x:0:\nsvcs:x:5002:\n");
        var pool = new VmmIdentityPool(firstUid: 5000, count: 5);

        var identity = pool.Allocate([5000, 5003], passwd, group);

        Assert.Equal(new VmmIdentity(5004, 5004), identity);
        Assert.True(pool.Contains(identity));
        Assert.False(pool.Contains(new VmmIdentity(5005, 5005)));
    }

    [Fact]
    public void A_full_range_is_refused_with_its_size()
    {
        var pool = new VmmIdentityPool(firstUid: 7000, count: 2);

        var refusal = Assert.Throws<InvalidOperationException>(() => pool.Allocate([7000, 7001], Write("passwd", ""), Write("group", "")));

        Assert.Equal("all 2 VMM uids from 7000 are in use", refusal.Message);
    }

    [Theory]
    [InlineData(0, 10)]
    [InlineData(999, 10)]
    [InlineData(5000, 0)]
    public void A_range_with_system_ids_or_no_ids_is_refused(int first, int count) =>
        Assert.Throws<ArgumentOutOfRangeException>(() => new VmmIdentityPool(first, count));

    private string Write(string name, string text)
    {
        string path = Path.Combine(_directory, name);
        File.WriteAllText(path, text);
        return path;
    }
}
