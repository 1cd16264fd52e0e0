namespace Sharpvisor.Engines.Emulator.Execution;

/// <summary>Where an interrupt or exception comes from: it decides the gate DPL check and the EXT bit of error codes.</summary>
public enum EventSource
{
    /// <summary>An exception the processor raised (#PF, #GP...): no DPL check, EXT = 1.</summary>
    Exception,
    /// <summary>An external interrupt from the local APIC: no DPL check, EXT = 1.</summary>
    External,
    /// <summary>INT n: the gate's DPL must be at least CPL, EXT = 0.</summary>
    SoftwareInterrupt,
    /// <summary>INT3 and INTO: software exceptions, checked like INT n.</summary>
    SoftwareException,
    /// <summary>INT1 (ICEBP): delivered like a hardware #DB, no DPL check.</summary>
    PrivilegedSoftwareException,
}
