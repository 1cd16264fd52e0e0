namespace Sharpvisor.Machine.Acpi;

/// <summary>
/// A MADT Interrupt Source Override: ISA IRQ <see cref="IsaIrq"/> arrives at global system interrupt
/// <see cref="Gsi"/>, with MPS INTI flags (polarity in bits 1:0, trigger mode in bits 3:2; 0 = conforms to the bus).
/// </summary>
public sealed record InterruptSourceOverride(byte IsaIrq, uint Gsi, ushort Flags = 0)
{
    public const ushort PolarityActiveHigh = 0b01, PolarityActiveLow = 0b11;
    public const ushort TriggerEdge = 0b01 << 2, TriggerLevel = 0b11 << 2;

    /// <summary>The PIT's IRQ 0 is wired to IOAPIC pin 2 on PC-compatible machines.</summary>
    public static InterruptSourceOverride TimerToGsi2 { get; } = new(0, 2);
}
