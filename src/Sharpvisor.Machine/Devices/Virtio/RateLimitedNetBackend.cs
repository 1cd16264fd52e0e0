using Sharpvisor.Machine.Throttling;

namespace Sharpvisor.Machine.Devices.Virtio;

/// <summary>
/// A network backend behind rate limiters: frames the guest sends wait for <c>tx</c>, frames for the guest wait for
/// <c>rx</c> on the backend's receive thread (the host side queues meanwhile, or drops, as at a slow NIC). It does not
/// own the backend it wraps (the VM's open taps outlive a boot).
/// </summary>
public sealed class RateLimitedNetBackend(IVirtioNetBackend inner, IoRateLimiter? rx, IoRateLimiter? tx) : IVirtioNetBackend
{
    public string Name => inner.Name;

    private CancellationTokenSource _stop = new();

    public void Start(IVirtioNetReceiver receiver)
    {
        if (_stop.IsCancellationRequested) _stop = new CancellationTokenSource();
        inner.Start(rx is null ? receiver : new ThrottledReceiver(receiver, rx, _stop.Token));
    }

    // Waits end first, so the backend's receive thread is not held in a limiter while it is being stopped.
    public void Stop()
    {
        _stop.Cancel();
        inner.Stop();
    }

    public void Send(ReadOnlySpan<byte> frame)
    {
        tx?.Throttle(frame.Length, _stop.Token);
        inner.Send(frame);
    }

    public void Dispose() => _stop.Cancel();

    private sealed class ThrottledReceiver(IVirtioNetReceiver receiver, IoRateLimiter limiter, CancellationToken stop) : IVirtioNetReceiver
    {
        public bool Deliver(ReadOnlySpan<byte> frame)
        {
            limiter.Throttle(frame.Length, stop);
            return receiver.Deliver(frame);
        }

        public void EndOfBatch() => receiver.EndOfBatch();
    }
}
