
namespace Sharpvisor.Machine.Storage.Qcow2;

/// <summary>
/// A few cluster-sized metadata tables (L2 tables or refcount blocks) kept in memory, least recently used evicted.
/// Tables stay in the file's big-endian layout. A dirty table is written back on eviction or <see cref="WriteBackDirty"/>,
/// after <c>beforeWriteBack</c> (an fdatasync), so what it references reaches the disk first.
/// </summary>
internal sealed class Qcow2TableCache(Qcow2File file, int slots, int tableBytes, Action beforeWriteBack)
{
    private readonly ulong[] _offsets = new ulong[slots];
    private readonly byte[][] _tables = CreateTables(slots, tableBytes);
    private readonly bool[] _dirty = new bool[slots];
    private readonly long[] _used = new long[slots];
    private long _tick;

    private static byte[][] CreateTables(int slots, int bytes)
    {
        var tables = new byte[slots][];
        for (int i = 0; i < slots; i++) tables[i] = new byte[bytes];
        return tables;
    }

    /// <summary>The table at <paramref name="offset"/>; <paramref name="fresh"/>: a new table, all zeros, not read.</summary>
    public byte[] Get(ulong offset, bool fresh = false)
    {
        int victim = 0;
        for (int i = 0; i < _offsets.Length; i++)
        {
            if (_offsets[i] == offset && offset != 0)
            {
                _used[i] = ++_tick;
                if (fresh) Array.Clear(_tables[i]);
                return _tables[i];
            }
            if (_used[i] < _used[victim]) victim = i;
        }
        if (_dirty[victim]) WriteBack(victim);
        var table = _tables[victim];
        _offsets[victim] = 0;
        if (fresh) Array.Clear(table);
        else ReadFully(offset, table);
        _offsets[victim] = offset;
        _used[victim] = ++_tick;
        return table;
    }

    public void MarkDirty(ulong offset)
    {
        for (int i = 0; i < _offsets.Length; i++)
            if (_offsets[i] == offset) _dirty[i] = true;
    }

    /// <summary>Writes every dirty table; returns whether there was one.</summary>
    public bool WriteBackDirty()
    {
        bool any = false;
        for (int i = 0; i < _offsets.Length; i++)
        {
            if (!_dirty[i]) continue;
            if (!any) beforeWriteBack();
            any = true;
            file.Write(_tables[i], (long)_offsets[i]);
            _dirty[i] = false;
        }
        return any;
    }

    private void WriteBack(int slot)
    {
        beforeWriteBack();
        file.Write(_tables[slot], (long)_offsets[slot]);
        _dirty[slot] = false;
    }

    private void ReadFully(ulong offset, byte[] into)
    {
        int done = 0;
        while (done < into.Length)
        {
            int got = file.Read(into.AsSpan(done), (long)offset + done);
            if (got == 0) throw new Qcow2FormatException("metadata table", $"the table at 0x{offset:x} is cut short by the end of the file");
            done += got;
        }
    }
}
