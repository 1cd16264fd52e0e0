using System.Collections.Concurrent;
using Sharpvisor.Machine.Devices.Virtio;

namespace Sharpvisor.Vmm.Networking.Mmds;

/// <summary>
/// A network backend with the metadata service in front: frames the guest sends to the metadata address are answered
/// by <see cref="MetadataTcpResponder"/> and never reach <paramref name="inner"/> (the tap); every other frame passes
/// as it is, without a copy. Answers go into the guest's receive queue from a thread of this backend's, since the
/// device's transmit thread, where they are made, may not wait for receive buffers.
/// </summary>
public sealed class MetadataNetBackend : IVirtioNetBackend
{
    private readonly IVirtioNetBackend _inner;
    private readonly MetadataTcpResponder _responder;
    private readonly ConcurrentQueue<byte[]> _toGuest = new();
    private readonly AutoResetEvent _ready = new(false);
    private IVirtioNetReceiver? _receiver;
    private Thread? _injector;
    private volatile bool _stopping;

    public MetadataNetBackend(IVirtioNetBackend inner, MetadataService service)
    {
        _inner = inner;
        _responder = new MetadataTcpResponder(service.Address, service.Responder, frame =>
        {
            _toGuest.Enqueue(frame);
            _ready.Set();
        });
    }

    public string Name => _inner.Name;

    public void Start(IVirtioNetReceiver receiver)
    {
        _receiver = receiver;
        _stopping = false;
        _inner.Start(receiver);
        _injector = new Thread(Inject) { IsBackground = true, Name = $"mmds {_inner.Name}" };
        _injector.Start();
    }

    public void Stop()
    {
        _inner.Stop();
        _stopping = true;
        _ready.Set();
        _injector?.Join();
        _injector = null;
        _toGuest.Clear();
    }

    public void Send(ReadOnlySpan<byte> frame)
    {
        if (!_responder.Handle(frame)) _inner.Send(frame);
    }

    private void Inject()
    {
        while (!_stopping)
        {
            _ready.WaitOne();
            bool any = false;
            while (!_stopping && _toGuest.TryDequeue(out var frame))
            {
                _receiver!.Deliver(frame);
                any = true;
            }
            if (any) _receiver!.EndOfBatch();
        }
    }

    public void Dispose()
    {
        Stop();
        _inner.Dispose();
        _ready.Dispose();
    }
}
