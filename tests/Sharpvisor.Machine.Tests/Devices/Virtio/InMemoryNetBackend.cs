using Sharpvisor.Machine.Devices.Virtio;

namespace Sharpvisor.Machine.Tests.Devices.Virtio;

/// <summary>
/// A virtio-net backend in memory: frames the device sends are recorded; frames are injected with
/// <see cref="Inject"/> (which may block in the device, as a tap reader does, so tests call it off their own thread), or,
/// with <see cref="Flood"/>, delivered endlessly from a thread of its own until stopped.
/// </summary>
public sealed class InMemoryNetBackend : IVirtioNetBackend
{
    private readonly List<byte[]> _sent = [];
    private readonly ManualResetEventSlim _started = new(false);
    private Thread? _flood;
    private volatile bool _disposed, _stopping;

    public string Name => "memory";
    public IVirtioNetReceiver? Receiver { get; private set; }
    public bool Disposed => _disposed;
    /// <summary>Starts and stops so far (a backend serves the device of each boot in turn).</summary>
    public int Starts { get; private set; }
    public int Stops { get; private set; }
    /// <summary>When set, <see cref="Send"/> fails as a tap that went away would.</summary>
    public bool FailSends { get; set; }
    /// <summary>With a seed: once started, delivers frames of random lengths (14 to 1600 bytes) until disposed.</summary>
    public int? Flood { get; init; }
    public long FloodDelivered => Interlocked.Read(ref _floodDelivered);
    private long _floodDelivered;

    public IReadOnlyList<byte[]> Sent
    {
        get { lock (_sent) return _sent.ToArray(); }
    }

    public void Start(IVirtioNetReceiver receiver)
    {
        Starts++;
        _stopping = false;
        Receiver = receiver;
        _started.Set();
        if (Flood is { } seed)
        {
            _flood = new Thread(() => FloodLoop(receiver, new Random(seed))) { IsBackground = true, Name = "virtio-net flood" };
            _flood.Start();
        }
    }

    public void Send(ReadOnlySpan<byte> frame)
    {
        if (FailSends) throw new IOException("the test backend refuses frames");
        lock (_sent) _sent.Add(frame.ToArray());
    }

    /// <summary>Delivers one frame and ends the batch, on a thread of its own; the task ends when the device took or dropped it.</summary>
    public Task<bool> Inject(byte[] frame)
    {
        Assert.True(_started.Wait(5000), "the device never started its backend");
        return Task.Factory.StartNew(() =>
        {
            bool delivered = Receiver!.Deliver(frame);
            Receiver.EndOfBatch();
            return delivered;
        }, TaskCreationOptions.LongRunning);
    }

    public void Stop()
    {
        Stops++;
        _stopping = true;
        _flood?.Join();
        _flood = null;
    }

    public void Dispose()
    {
        _disposed = true;
        Stop();
        _started.Dispose();
    }

    private void FloodLoop(IVirtioNetReceiver receiver, Random random)
    {
        var frame = new byte[1600];
        random.NextBytes(frame);
        while (!_stopping)
        {
            int length = random.Next(VirtioNet.EthernetHeaderLength, frame.Length + 1);
            if (receiver.Deliver(frame.AsSpan(0, length))) Interlocked.Increment(ref _floodDelivered);
            else Thread.Yield();
            receiver.EndOfBatch();
        }
    }
}
