namespace Sharpvisor.Machine.Acpi;

/// <summary>
/// The registers a hardware-reduced ACPI platform offers instead of PM1 blocks (ACPI 6.x 4.8.3.7): the sleep
/// control register (OSPM writes SLP_TYP in bits 4:2 and SLP_EN in bit 5), the sleep status register (WAK_STS in
/// bit 7) and the reset register, all byte-wide I/O ports here. <see cref="S5SleepType"/> is the SLP_TYP value the
/// \_S5 package hands OSPM for power-off.
/// </summary>
public sealed record HardwareReducedRegisters(
    ushort SleepControlPort = 0x3C0,
    ushort SleepStatusPort = 0x3C1,
    ushort ResetPort = 0x3C2,
    byte ResetValue = 1,
    byte S5SleepType = 5)
{
    /// <summary>The byte OSPM writes to the sleep control port to enter S5: (SLP_TYP &lt;&lt; 2) | SLP_EN.</summary>
    public byte S5ControlValue => (byte)(((S5SleepType & 7) << 2) | 0x20);
}
