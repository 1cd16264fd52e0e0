using System.Threading.Channels;

namespace Sharpvisor.Host.Events;

/// <summary>Something that happened on the host, as the events stream carries it (Incus's lifecycle and operation events).</summary>
public sealed record HostEvent(string Type, DateTimeOffset Timestamp, string Action, string? Instance, string? Status, string Message);

/// <summary>
/// The host's event stream: every subscriber gets each event published after it subscribed. A subscriber that falls
/// 1,024 events behind loses the oldest, so a stalled client never holds up the daemon.
/// </summary>
public sealed class HostEvents
{
    private readonly Lock _lock = new();
    private readonly List<Channel<HostEvent>> _subscribers = [];

    public void Publish(string type, string action, string? instance, string? status, string message)
    {
        var e = new HostEvent(type, DateTimeOffset.UtcNow, action, instance, status, message);
        lock (_lock)
            foreach (var subscriber in _subscribers) subscriber.Writer.TryWrite(e);
    }

    public EventSubscription Subscribe()
    {
        var channel = Channel.CreateBounded<HostEvent>(new BoundedChannelOptions(1024) { FullMode = BoundedChannelFullMode.DropOldest, SingleReader = true });
        lock (_lock) _subscribers.Add(channel);
        return new EventSubscription(channel.Reader, () =>
        {
            lock (_lock) _subscribers.Remove(channel);
            channel.Writer.TryComplete();
        });
    }
}

public sealed class EventSubscription(ChannelReader<HostEvent> events, Action unsubscribe) : IDisposable
{
    public ChannelReader<HostEvent> Events { get; } = events;
    public void Dispose() => unsubscribe();
}
