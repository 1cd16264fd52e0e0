using System.Diagnostics;
using Sharpvisor.Host.Instances;
using Sharpvisor.Host.Store;

namespace Sharpvisor.Host.Tests.Store;

public sealed class SqliteHostStoreTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("sv-store-").FullName;
    private string File => Path.Combine(_folder, "sharpvisor.db");

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static InstanceRecord Record(string name, ulong memory = 256UL << 20) =>
        new() { Definition = new InstanceDefinition { Name = name, MemoryBytes = memory }, CreatedAt = DateTimeOffset.UtcNow };

    [Fact]
    public void Records_come_back_whole_after_the_store_is_reopened()
    {
        using (var store = new SqliteHostStore(File))
        {
            var created = store.CreateInstance(Record("a") with { StatusReason = "why", Process = new VmmProcessInfo(42, 7, "/sys/fs/cgroup/x", 1000) });
            Assert.Equal(1, created.Revision);
            store.CreateSnapshot(new SnapshotRecord("a", "s1", "/x/s1", DateTimeOffset.UnixEpoch, Complete: false));
        }
        using var reopened = new SqliteHostStore(File);
        var a = reopened.FindInstance("a")!;
        Assert.Equal(256UL << 20, a.Definition.MemoryBytes);
        Assert.Equal(new VmmProcessInfo(42, 7, "/sys/fs/cgroup/x", 1000), a.Process);
        Assert.Equal("why", a.StatusReason);
        Assert.False(reopened.ListSnapshots("a").Single().Complete);
    }

    [Fact]
    public void An_update_that_read_an_old_revision_loses_and_changes_nothing()
    {
        using var store = new SqliteHostStore(File);
        var first = store.CreateInstance(Record("a"));
        var second = store.UpdateInstance(first with { StatusReason = "one" }, first.Revision);
        Assert.Equal(2, second.Revision);
        Assert.Throws<StoreConflictException>(() => store.UpdateInstance(first with { StatusReason = "stale" }, first.Revision));
        Assert.Throws<StoreConflictException>(() => store.DeleteInstance("a", first.Revision));
        Assert.Throws<StoreConflictException>(() => store.CreateInstance(Record("a")));
        Assert.Equal("one", store.FindInstance("a")!.StatusReason);
    }

    [Fact]
    public void Deleting_an_instance_deletes_its_snapshot_records()
    {
        using var store = new SqliteHostStore(File);
        var a = store.CreateInstance(Record("a"));
        store.CreateSnapshot(new SnapshotRecord("a", "s1", "/x", DateTimeOffset.UtcNow, true));
        store.DeleteInstance("a", a.Revision);
        Assert.Empty(store.ListSnapshots("a"));
        Assert.Throws<StoreConflictException>(() => store.CreateSnapshot(new SnapshotRecord("gone", "s1", "/x", DateTimeOffset.UtcNow, true)));
    }

    [SkippableFact]
    public void A_writer_killed_with_SIGKILL_in_the_middle_of_its_writes_leaves_every_committed_record_and_no_torn_one()
    {
        // A child process inserts records as fast as it can; it is killed at a random moment, many times over.
        string script = Path.Combine(_folder, "writer.sql");
        System.IO.File.WriteAllText(script, string.Join('\n', Enumerable.Range(0, 20000).Select(i =>
            $"INSERT INTO instances (name, revision, record) VALUES ('w{i}', 1, '{{\"definition\":{{\"name\":\"w{i}\",\"memory_bytes\":{i * 4096}}}}}');")));
        using (new SqliteHostStore(File)) { } // the schema
        HostRequires.Tool("sqlite3", "sqlite3");
        string sqlite = HostRequires.FindOnPath("sqlite3")!;
        for (int round = 0; round < 3; round++)
        {
            using var writer = Process.Start(new ProcessStartInfo(sqlite) { ArgumentList = { File, $".read {script}" }, RedirectStandardError = true })!;
            Thread.Sleep(150 + round * 100);
            writer.Kill();
            writer.WaitForExit();
            using var store = new SqliteHostStore(File);
            var all = store.ListInstances();
            Assert.All(all, r => Assert.Equal(ulong.Parse(r.Name[1..]) * 4096, r.Definition.MemoryBytes));
            foreach (var r in all) store.DeleteInstance(r.Name, r.Revision);
        }
    }
}
