using Microsoft.Win32.SafeHandles;
using Sharpvisor.Machine.Native;

namespace Sharpvisor.Machine.Storage.Qcow2;

/// <summary>An image's file as the qcow2 code uses it: positioned reads and writes and fdatasync, each write and sync
/// shown to an optional observer first (crash-injection tests).</summary>
internal sealed class Qcow2File(SafeFileHandle handle, IQcow2WriteObserver? observer) : IDisposable
{
    public long Length => RandomAccess.GetLength(handle);

    public int Read(Span<byte> into, long offset) => RandomAccess.Read(handle, into, offset);

    public void Write(ReadOnlySpan<byte> data, long offset)
    {
        observer?.Writing(offset, data);
        RandomAccess.Write(handle, data, offset);
    }

    public void Sync()
    {
        observer?.Syncing();
        if (Libc.fdatasync((int)handle.DangerousGetHandle()) != 0) throw new IOException($"qcow2: fdatasync: {Libc.LastErrorText()}");
    }

    public void Dispose() => handle.Dispose();
}
