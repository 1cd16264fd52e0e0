namespace Sharpvisor.Machine.Interrupts;

/// <summary>
/// Where devices send interrupts: GSI lines of the IOAPIC (and the legacy PIC below 16), and message-signalled
/// interrupts. The engine's VM implements it (KVM's in-kernel irqchip, or the emulator's own APICs).
/// </summary>
public interface IInterruptController
{
    void SetIrqLevel(uint gsi, bool asserted);
    void SignalMsi(ulong address, uint data);
}
