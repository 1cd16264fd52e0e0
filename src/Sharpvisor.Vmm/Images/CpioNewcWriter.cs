using System.Text;

namespace Sharpvisor.Vmm.Images;

/// <summary>
/// Writes a cpio archive in the "newc" format (magic 070701), the format the Linux kernel unpacks as an initramfs.
/// Each entry is a 110-byte ASCII header of 8-hex-digit fields, the NUL-terminated name padded so header+name is a
/// multiple of 4 bytes, then the data padded to 4 bytes. The archive ends with the entry "TRAILER!!!".
/// Names are stored relative ("bin/busybox"); a leading "/" is dropped. Missing parent directories are emitted
/// automatically (mode 0755), because the kernel's unpacker does not create them.
/// </summary>
public sealed class CpioNewcWriter : IDisposable
{
    public const string Magic = "070701";
    public const string TrailerName = "TRAILER!!!";
    private const int HeaderLength = 110;

    // File type bits of st_mode.
    private const uint TypeDirectory = 0x4000;
    private const uint TypeCharacterDevice = 0x2000;
    private const uint TypeBlockDevice = 0x6000;
    private const uint TypeRegularFile = 0x8000;
    private const uint TypeSymbolicLink = 0xA000;
    private const uint PermissionMask = 0xFFF;

    private readonly Stream _output;
    private readonly bool _leaveOpen;
    private readonly HashSet<string> _names = new(StringComparer.Ordinal);
    private readonly HashSet<string> _directories = new(StringComparer.Ordinal);
    private readonly byte[] _header = new byte[HeaderLength];
    private uint _nextInode = 721; // arbitrary start; only uniqueness matters
    private long _position;
    private bool _finished;

    public CpioNewcWriter(Stream output, bool leaveOpen = false)
    {
        ArgumentNullException.ThrowIfNull(output);
        if (!output.CanWrite) throw new ArgumentException("The output stream must be writable.", nameof(output));
        _output = output;
        _leaveOpen = leaveOpen;
    }

    /// <summary>Modification time written into every following entry.</summary>
    public DateTimeOffset Timestamp { get; set; } = DateTimeOffset.UnixEpoch;

    /// <summary>Number of entries written so far, without the trailer.</summary>
    public int EntryCount { get; private set; }

    /// <summary>Bytes written to the output so far.</summary>
    public long BytesWritten => _position;

    public void AddDirectory(string path, UnixFileMode mode = DefaultDirectoryMode)
    {
        string name = NormalizeName(path);
        EnsureParents(name);
        WriteEntry(name, TypeDirectory | Permissions(mode), nlink: 2, ReadOnlySpan<byte>.Empty, 0, 0);
        _directories.Add(name);
    }

    public void AddFile(string path, ReadOnlySpan<byte> content, UnixFileMode mode = DefaultFileMode)
    {
        string name = NormalizeName(path);
        EnsureParents(name);
        WriteEntry(name, TypeRegularFile | Permissions(mode), nlink: 1, content, 0, 0);
    }

    /// <summary>Adds a regular file whose content is copied from a file on the host.</summary>
    public void AddFileFromDisk(string path, string sourceFile, UnixFileMode mode = DefaultFileMode)
    {
        byte[] content = File.ReadAllBytes(sourceFile);
        AddFile(path, content, mode);
    }

    /// <summary>Adds a symbolic link; the target is stored verbatim as the entry's data.</summary>
    public void AddSymlink(string path, string target)
    {
        ArgumentException.ThrowIfNullOrEmpty(target);
        if (target.Contains('\0')) throw new ArgumentException("A link target cannot contain NUL.", nameof(target));
        string name = NormalizeName(path);
        EnsureParents(name);
        WriteEntry(name, TypeSymbolicLink | 0x1FF, nlink: 1, Encoding.UTF8.GetBytes(target), 0, 0);
    }

    public void AddCharacterDevice(string path, uint major, uint minor, UnixFileMode mode)
    {
        string name = NormalizeName(path);
        EnsureParents(name);
        WriteEntry(name, TypeCharacterDevice | Permissions(mode), nlink: 1, ReadOnlySpan<byte>.Empty, major, minor);
    }

    public void AddBlockDevice(string path, uint major, uint minor, UnixFileMode mode)
    {
        string name = NormalizeName(path);
        EnsureParents(name);
        WriteEntry(name, TypeBlockDevice | Permissions(mode), nlink: 1, ReadOnlySpan<byte>.Empty, major, minor);
    }

    /// <summary>Writes the trailer entry and flushes. No entries can be added afterwards.</summary>
    public void Finish()
    {
        if (_finished) return;
        WriteHeaderAndName(TrailerName, inode: 0, mode: 0, nlink: 1, mtime: 0, fileSize: 0, 0, 0);
        _finished = true;
        _output.Flush();
    }

    public void Dispose()
    {
        if (!_leaveOpen) _output.Dispose();
    }

    public const UnixFileMode DefaultDirectoryMode =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
        UnixFileMode.GroupRead | UnixFileMode.GroupExecute | UnixFileMode.OtherRead | UnixFileMode.OtherExecute;

    public const UnixFileMode DefaultFileMode =
        UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.OtherRead;

    public const UnixFileMode ExecutableFileMode = DefaultDirectoryMode;

    private static uint Permissions(UnixFileMode mode) => (uint)mode & PermissionMask;

    private string NormalizeName(string path)
    {
        if (_finished) throw new InvalidOperationException("The archive is already finished.");
        ArgumentException.ThrowIfNullOrEmpty(path);
        string name = path.TrimStart('/');
        if (name.EndsWith('/')) name = name.TrimEnd('/');
        if (name.Length == 0) throw new ArgumentException("The archive root cannot be an entry.", nameof(path));
        if (name.Contains('\0')) throw new ArgumentException("A name cannot contain NUL.", nameof(path));
        foreach (string part in name.Split('/'))
        {
            if (part.Length == 0 || part == "." || part == "..")
                throw new ArgumentException($"'{path}' is not a plain relative path.", nameof(path));
        }
        if (_names.Contains(name)) throw new ArgumentException($"'{name}' is already in the archive.", nameof(path));
        return name;
    }

    private void EnsureParents(string name)
    {
        int slash = name.LastIndexOf('/');
        if (slash < 0) return;
        string parent = name[..slash];
        if (_directories.Contains(parent)) return;
        if (_names.Contains(parent)) throw new ArgumentException($"'{parent}' is in the archive but is not a directory.");
        AddDirectory(parent);
    }

    private void WriteEntry(string name, uint mode, uint nlink, ReadOnlySpan<byte> data, uint rdevMajor, uint rdevMinor)
    {
        _names.Add(name);
        long mtime = Math.Max(0, Timestamp.ToUnixTimeSeconds());
        WriteHeaderAndName(name, _nextInode++, mode, nlink, (uint)Math.Min(mtime, uint.MaxValue), checked((uint)data.Length),
            rdevMajor, rdevMinor);
        _output.Write(data);
        _position += data.Length;
        WritePadding();
        EntryCount++;
    }

    private void WriteHeaderAndName(string name, uint inode, uint mode, uint nlink, uint mtime, uint fileSize,
        uint rdevMajor, uint rdevMinor)
    {
        byte[] nameBytes = Encoding.UTF8.GetBytes(name);
        Encoding.ASCII.GetBytes(Magic, _header);
        ReadOnlySpan<uint> fields =
        [
            inode, mode,
            0, 0,             // uid, gid: root
            nlink, mtime, fileSize,
            0, 0,             // major/minor of the containing file system: irrelevant for an initramfs
            rdevMajor, rdevMinor,
            (uint)nameBytes.Length + 1, // name size includes the terminating NUL
            0,                // check: only used by the "070702" crc variant
        ];
        for (int i = 0; i < fields.Length; i++)
            fields[i].TryFormat(_header.AsSpan(Magic.Length + i * 8, 8), out _, "X8");
        _output.Write(_header);
        _output.Write(nameBytes);
        _output.WriteByte(0);
        _position += HeaderLength + nameBytes.Length + 1;
        WritePadding();
    }

    private void WritePadding()
    {
        int padding = (int)((4 - (_position & 3)) & 3);
        Span<byte> zeros = stackalloc byte[3];
        zeros.Clear();
        _output.Write(zeros[..padding]);
        _position += padding;
    }
}
