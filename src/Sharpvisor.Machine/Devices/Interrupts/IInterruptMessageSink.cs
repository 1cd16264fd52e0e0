namespace Sharpvisor.Machine.Devices.Interrupts;

/// <summary>
/// Where an interrupt source that speaks in APIC messages (the IOAPIC) sends them: the local APICs of the machine, e.g.
/// the emulator engine's APIC bus. Called from any thread, possibly while the sender holds its own lock, so an
/// implementation must not call back into the sender synchronously.
/// </summary>
public interface IInterruptMessageSink
{
    /// <summary>Delivers <paramref name="message"/>; false when no local APIC accepted it (nobody matched the destination).</summary>
    bool Deliver(in InterruptMessage message);
}
