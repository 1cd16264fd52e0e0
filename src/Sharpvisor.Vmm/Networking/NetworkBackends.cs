using Sharpvisor.Machine.Devices.Virtio;
using Sharpvisor.Vmm.Configuration;

namespace Sharpvisor.Vmm.Networking;

/// <summary>
/// A VM's network backends for its whole life, opened when a boot first needs them and handed to the device of each
/// later boot: a tap the VMM created survives a guest reboot with its host-side addresses, as with QEMU, instead of
/// being deleted and created again. Disposing closes them all.
/// </summary>
public sealed class NetworkBackends : IDisposable
{
    private readonly Dictionary<string, IVirtioNetBackend> _open = [];
    private readonly Func<NetSpec, Action<string>, IVirtioNetBackend> _opener;
    private bool _disposed;

    public NetworkBackends(Func<NetSpec, Action<string>, IVirtioNetBackend>? opener = null) =>
        _opener = opener ?? ((spec, log) => TapBackend.Open(spec.Tap, log));

    /// <summary>The metadata service (MMDS) some taps' interfaces answer in front of the tap; set before the first boot.</summary>
    public Mmds.MetadataService? Metadata { get; set; }

    /// <summary>The backend for <paramref name="spec"/>'s tap: the one already open, or a newly opened one.</summary>
    public IVirtioNetBackend For(NetSpec spec, Action<string> log)
    {
        lock (_open)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            if (!_open.TryGetValue(spec.Tap, out var backend))
            {
                backend = _opener(spec, log);
                if (Metadata is { } metadata && metadata.Serves(spec.Tap)) backend = new Mmds.MetadataNetBackend(backend, metadata);
                _open[spec.Tap] = backend;
            }
            return backend;
        }
    }

    public void Dispose()
    {
        lock (_open)
        {
            if (_disposed) return;
            _disposed = true;
            foreach (var backend in _open.Values) backend.Dispose();
            _open.Clear();
        }
    }
}
