namespace Sharpvisor.Machine.Storage.Qcow2;

/// <summary>
/// Sees every write and fdatasync a writable qcow2 image makes to its file, in order, before it happens: what a
/// crash-injection test records to rebuild the file as a crash after any of them would leave it.
/// </summary>
public interface IQcow2WriteObserver
{
    void Writing(long offset, ReadOnlySpan<byte> data);

    void Syncing();
}
