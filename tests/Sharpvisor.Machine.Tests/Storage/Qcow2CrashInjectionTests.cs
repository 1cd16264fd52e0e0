using Sharpvisor.Machine.Storage.Qcow2;
using Xunit.Abstractions;

namespace Sharpvisor.Machine.Tests.Storage;

/// <summary>
/// A crash at any point of a run of cluster allocations: every write and fdatasync the backend makes is recorded, then
/// the file is rebuilt as each prefix of those writes would leave it (and, after each sync, as if only the last write
/// since that sync had reached the disk). Each such file must check without errors (leaks allowed: clusters counted
/// but not yet referenced), keep the data flushed before the crash, read each cluster written since as old or new,
/// and open writable again with the leaks given back.
/// </summary>
public sealed class Qcow2CrashInjectionTests(ITestOutputHelper output) : IDisposable
{
    private const ulong StreamAt = 1 << 20, DiscardedAt = 6 << 20;
    private int _leakyStates;

    private readonly string _dir = Directory.CreateTempSubdirectory("sharpvisor-crash-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private sealed class Recorder : IQcow2WriteObserver
    {
        public readonly List<(long Offset, byte[] Data)?> Events = [];   // null: an fdatasync

        public void Writing(long offset, ReadOnlySpan<byte> data) => Events.Add((offset, data.ToArray()));

        public void Syncing() => Events.Add(null);
    }

    [SkippableTheory]
    [InlineData(16)]
    [InlineData(9)]       // 512-byte clusters: new refcount blocks and a refcount table that moves
    public void Every_prefix_of_the_writes_leaves_a_consistent_image_that_keeps_flushed_data(int clusterBits)
    {
        QemuImg.Require();
        string image = Path.Combine(_dir, "disk.qcow2"), crashed = Path.Combine(_dir, "crashed.qcow2");
        int cluster = 1 << clusterBits;
        const int Size = 8 << 20;   // flushed data at 0, the second stream at 1 MiB, the discarded range at 6 MiB, the first at the end
        Qcow2ImageCreator.Create(image, Size, clusterBits: clusterBits);
        var flushedPattern = Pattern(3 * cluster + 100, 1);
        using (var disk = Qcow2BlockBackend.Open(image, readOnly: false))
        {
            disk.Write(flushedPattern, 0);                          // already durable before the recorded run
            disk.Write(Pattern(2 * cluster, 2), DiscardedAt);   // to be discarded by the recorded run
        }
        byte[] start = File.ReadAllBytes(image);

        // The recorded run: new clusters (some needing new L2 tables and refcount blocks), a rewrite in place,
        // a discard that frees, a flush in the middle, and a second stream after it.
        var recorder = new Recorder();
        var second = Pattern(40 * cluster, 3);
        var first = Pattern(6 * cluster, 4);
        int flushedAt;
        using (var disk = Qcow2BlockBackend.Open(image, readOnly: false, observer: recorder))
        {
            disk.Write(first, (ulong)(Size - first.Length));         // a new L2 table at the disk's far end
            disk.Write(Pattern(100, 5), 50);                        // in place: cluster 0 is ours
            disk.Discard(DiscardedAt, (ulong)(2 * cluster));
            disk.Flush();
            flushedAt = recorder.Events.Count;
            for (int i = 0; i < second.Length; i += 3 * cluster + 7)
                disk.Write(second.AsSpan(i, Math.Min(3 * cluster + 7, second.Length - i)), StreamAt + (ulong)i);
            disk.Flush();
        }
        Assert.Contains(null, recorder.Events);
        var afterFlush = (byte[])start.Clone();

        var state = (byte[])start.Clone();
        int lastSync = 0;
        var afterLastSync = (byte[])start.Clone();
        int checkedStates = 0;
        for (int n = 0; n <= recorder.Events.Count; n++)
        {
            if (n > 0)
            {
                var e = recorder.Events[n - 1];
                if (e is null)
                {
                    lastSync = n;
                    afterLastSync = (byte[])state.Clone();
                }
                else
                {
                    state = Apply(state, e.Value.Offset, e.Value.Data);
                }
            }
            bool flushed = n >= flushedAt;
            CheckCrashState(state, crashed, cluster, flushed, $"after {n} of {recorder.Events.Count} events");
            checkedStates++;
            // Only the newest write since the last sync reached the disk; those before it were lost.
            if (n > lastSync + 1 && recorder.Events[n - 1] is { } newest)
            {
                CheckCrashState(Apply(afterLastSync, newest.Offset, newest.Data), crashed, cluster, flushed, $"event {n} alone after the sync at {lastSync}");
                checkedStates++;
            }
        }
        Assert.True(checkedStates > 20, $"only {checkedStates} crash states");
        output.WriteLine($"{recorder.Events.Count} events, {checkedStates} crash states checked, {_leakyStates} with leaks (all given back)");
    }

    private void CheckCrashState(byte[] bytes, string path, int cluster, bool firstStreamFlushed, string when)
    {
        File.WriteAllBytes(path, bytes);
        var (exit, output) = QemuImg.Run("qemu-img", "check", path);
        Assert.True(exit is 0 or 3, $"{when}: qemu-img check exited {exit}: {output}");      // 3: leaks only
        Assert.DoesNotContain("ERROR", output);
        Assert.DoesNotContain("corrupt", output, StringComparison.OrdinalIgnoreCase);

        var leaks = System.Text.RegularExpressions.Regex.Match(output, @"(\d+) leaked clusters were found");
        int leaked = leaks.Success ? int.Parse(leaks.Groups[1].Value) : 0;
        Assert.Equal(exit == 3, leaked > 0);
        if (leaked > 0) _leakyStates++;
        using (var disk = Qcow2BlockBackend.Open(path, readOnly: false))
        {
            Assert.Equal(leaked, disk.LeakedClustersReclaimed);     // exactly what qemu-img calls leaked is given back
            var head = new byte[3 * cluster + 100];
            disk.Read(head, 0);
            var expected = Pattern(3 * cluster + 100, 1);
            if (firstStreamFlushed) Pattern(100, 5).CopyTo(expected, 50);
            Assert.True(expected.AsSpan().SequenceEqual(head) || (!firstStreamFlushed && WithPatch(expected).AsSpan().SequenceEqual(head)),
                $"{when}: the flushed data changed");
            // The second stream's bytes each read as before it (zeros) or as written, never anything else.
            var stream = new byte[40 * cluster];
            disk.Read(stream, StreamAt);
            var written = Pattern(40 * cluster, 3);
            for (int i = 0; i < stream.Length; i++)
                if (stream[i] != 0 && stream[i] != written[i]) Assert.Fail($"{when}: byte {i} of the second stream is neither old nor new");
            disk.Write(Pattern(cluster, 9), (ulong)(disk.VirtualSize - (ulong)cluster * 3));   // the reopened image takes writes
        }
        var (exitAfter, after) = QemuImg.Run("qemu-img", "check", path);
        Assert.True(exitAfter == 0, $"{when}: after our reopen and a write, qemu-img check exited {exitAfter}: {after}");
    }

    private static byte[] WithPatch(byte[] expected)
    {
        var patched = (byte[])expected.Clone();
        Pattern(100, 5).CopyTo(patched, 50);
        return patched;
    }

    private static byte[] Apply(byte[] state, long offset, byte[] data)
    {
        if (offset + data.Length > state.Length) Array.Resize(ref state, (int)offset + data.Length);
        data.CopyTo(state, offset);
        return state;
    }

    private static byte[] Pattern(int length, int seed)
    {
        var bytes = new byte[length];
        new Random(seed).NextBytes(bytes);
        return bytes;
    }
}
