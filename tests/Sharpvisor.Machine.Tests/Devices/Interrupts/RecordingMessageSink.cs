using Sharpvisor.Machine.Devices.Interrupts;

namespace Sharpvisor.Machine.Tests.Devices.Interrupts;

/// <summary>Records the messages an IOAPIC sends; <see cref="Accepts"/> decides what Deliver answers.</summary>
public sealed class RecordingMessageSink : IInterruptMessageSink
{
    public List<InterruptMessage> Messages { get; } = [];
    public bool Accepts { get; set; } = true;

    public bool Deliver(in InterruptMessage message)
    {
        lock (Messages) Messages.Add(message);
        return Accepts;
    }

    public int Count
    {
        get { lock (Messages) return Messages.Count; }
    }
}
