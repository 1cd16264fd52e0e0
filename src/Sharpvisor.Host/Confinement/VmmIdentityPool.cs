namespace Sharpvisor.Host.Confinement;

/// <summary>
/// Hands each VM its own uid (gid = uid) from a range no account uses, so VMMs cannot open each other's files even
/// where a path is visible. The daemon keeps which VM has which (it must survive restarts with the VMs) and passes
/// the ones in use. The default range sits above Debian's usual subordinate-id ranges (100000 + 65536 per user).
/// </summary>
public sealed class VmmIdentityPool
{
    public const int DefaultFirstUid = 990_000, DefaultCount = 10_000;

    public VmmIdentityPool(int firstUid = DefaultFirstUid, int count = DefaultCount)
    {
        if (firstUid < 1000) throw new ArgumentOutOfRangeException(nameof(firstUid), firstUid, "VMM uids start at 1000 or above (below are system accounts)");
        if (count < 1 || (long)firstUid + count > int.MaxValue) throw new ArgumentOutOfRangeException(nameof(count), count, "the uid range must hold at least one id and stay below 2^31");
        FirstUid = firstUid;
        Count = count;
    }

    public int FirstUid { get; }
    public int Count { get; }

    /// <summary>The lowest uid of the range that is not in <paramref name="inUse"/> nor an account or group of the host.</summary>
    public VmmIdentity Allocate(IEnumerable<int> inUse, string passwd = "/etc/passwd", string group = "/etc/group")
    {
        var taken = inUse.ToHashSet();
        taken.UnionWith(NumericIds(passwd, 2));
        taken.UnionWith(NumericIds(group, 2));
        for (int uid = FirstUid; uid < FirstUid + Count; uid++)
            if (!taken.Contains(uid)) return new VmmIdentity(uid, uid);
        throw new InvalidOperationException($"all {Count} VMM uids from {FirstUid} are in use");
    }

    public bool Contains(VmmIdentity identity) => identity.Uid >= FirstUid && identity.Uid < FirstUid + Count && identity.Gid == identity.Uid;

    // name:x:ID:... lines: field 2 is the uid (passwd) or the gid (group).
    private static IEnumerable<int> NumericIds(string file, int field) =>
        !File.Exists(file) ? [] : File.ReadLines(file).Select(l => l.Split(':')).Where(f => f.Length > field)
            .Select(f => int.TryParse(f[field], out int id) ? id : -1).Where(id => id >= 0);
}
