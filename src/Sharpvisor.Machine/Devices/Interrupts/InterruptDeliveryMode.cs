namespace Sharpvisor.Machine.Devices.Interrupts;

/// <summary>
/// The delivery-mode field (3 bits) shared by IOAPIC redirection entries, MSI data, the local APIC's ICR and LVT
/// entries. Values 3 (remote read, long obsolete) and 6 in an IOAPIC entry are reserved.
/// </summary>
public enum InterruptDeliveryMode : byte
{
    Fixed = 0,
    LowestPriority = 1,
    Smi = 2,
    Reserved3 = 3,
    Nmi = 4,
    Init = 5,
    /// <summary>Start-up IPI (SIPI); only an ICR can send it.</summary>
    Startup = 6,
    /// <summary>External interrupt: the vector comes from an 8259 PIC.</summary>
    ExtInt = 7,
}
