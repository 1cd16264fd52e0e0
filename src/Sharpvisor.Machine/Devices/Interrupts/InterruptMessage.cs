namespace Sharpvisor.Machine.Devices.Interrupts;

/// <summary>
/// One interrupt message on the APIC bus, as an IOAPIC redirection entry or an MSI describes it. The destination is
/// in xAPIC format (8 bits, 0xFF broadcasts): physical mode names an APIC ID, logical mode a set of logical IDs that
/// each local APIC matches against its LDR/DFR.
/// </summary>
/// <param name="Destination">APIC ID (physical) or logical destination (logical); 0xFF is the broadcast.</param>
/// <param name="LogicalDestination">True for logical destination mode.</param>
/// <param name="DeliveryMode">Fixed, lowest priority, NMI, INIT... (SMI and ExtINT have nobody to take them in the emulator).</param>
/// <param name="Vector">The IDT vector for fixed and lowest-priority delivery.</param>
/// <param name="LevelTriggered">Level-triggered: the receiving APIC sets the vector's TMR bit and broadcasts its EOI.</param>
public readonly record struct InterruptMessage(
    uint Destination,
    bool LogicalDestination,
    InterruptDeliveryMode DeliveryMode,
    byte Vector,
    bool LevelTriggered);
