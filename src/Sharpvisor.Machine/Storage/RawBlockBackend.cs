using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Sharpvisor.Machine.Native;

namespace Sharpvisor.Machine.Storage;

/// <summary>A raw image: disk offset = file offset. Discard and write-zeroes punch holes (the space goes back to the host).</summary>
public sealed class RawBlockBackend : IBlockBackend
{
    private static readonly byte[] Zeros = new byte[64 * 1024];
    private readonly SafeFileHandle _file;
    private readonly bool _formatWasProbed;

    /// <param name="formatWasProbed">
    /// Raw because its first bytes are not another format's magic, not because the user said so. The guest may then
    /// not write such a magic there: the next open would take its disk for a qcow2 image whose backing file the guest
    /// names, any file on the host (as QEMU refuses the same write to a probed raw image).
    /// </param>
    public RawBlockBackend(string path, bool readOnly, bool formatWasProbed = false)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        ReadOnly = readOnly;
        _formatWasProbed = formatWasProbed;
        _file = File.OpenHandle(path, FileMode.Open, readOnly ? FileAccess.Read : FileAccess.ReadWrite, FileShare.Read);
        try
        {
            VirtualSize = (ulong)RandomAccess.GetLength(_file);
        }
        catch
        {
            _file.Dispose();
            throw;
        }
    }

    public string Format => "raw";
    public ulong VirtualSize { get; }
    public bool ReadOnly { get; }

    public void Read(Span<byte> buffer, ulong offset)
    {
        int done = 0;
        while (done < buffer.Length)
        {
            int got = RandomAccess.Read(_file, buffer[done..], (long)offset + done);
            if (got == 0)
            {
                buffer[done..].Clear();   // past the end of a file that shrank under us
                return;
            }
            done += got;
        }
    }

    public void Write(ReadOnlySpan<byte> data, ulong offset)
    {
        ThrowIfReadOnly();
        if (_formatWasProbed && offset < MagicLength && WouldLookLikeQcow2(data, offset))
            throw new IOException("a write that would give this probed raw image the qcow2 magic is refused (name its format: --disk PATH,format=raw)");
        RandomAccess.Write(_file, data, (long)offset);
    }

    private const int MagicLength = 4;

    // The file's first bytes as they would be after the write: what is there now, overlaid with the write's bytes.
    private bool WouldLookLikeQcow2(ReadOnlySpan<byte> data, ulong offset)
    {
        Span<byte> start = stackalloc byte[MagicLength];
        Read(start, 0);
        data[..Math.Min(data.Length, MagicLength - (int)offset)].CopyTo(start[(int)offset..]);
        return Qcow2.Qcow2Header.HasMagic(start);
    }

    public void Flush()
    {
        if (ReadOnly) return;
        if (Libc.fdatasync((int)_file.DangerousGetHandle()) != 0) throw new IOException($"fdatasync: {Libc.LastErrorText()}");
    }

    public void Discard(ulong offset, ulong length) => PunchHole(offset, length, mustZero: false);

    public void WriteZeroes(ulong offset, ulong length) => PunchHole(offset, length, mustZero: true);

    private void PunchHole(ulong offset, ulong length, bool mustZero)
    {
        ThrowIfReadOnly();
        if (length == 0) return;
        int fd = (int)_file.DangerousGetHandle();
        if (Libc.fallocate(fd, Libc.FallocatePunchHole | Libc.FallocateKeepSize, (long)offset, (long)length) == 0) return;
        int errno = Marshal.GetLastPInvokeError();
        // A file system without hole punching: a discard is only advice, but zeroes must be written.
        if (errno != Libc.ErrnoNotSupported) throw new IOException($"fallocate: {Libc.Describe(errno)}");
        if (!mustZero) return;
        for (ulong done = 0; done < length; done += (ulong)Zeros.Length)
            RandomAccess.Write(_file, Zeros.AsSpan(0, (int)Math.Min((ulong)Zeros.Length, length - done)), (long)(offset + done));
    }

    private void ThrowIfReadOnly()
    {
        if (ReadOnly) throw new IOException("the disk is read-only");
    }

    public void Dispose() => _file.Dispose();
}
