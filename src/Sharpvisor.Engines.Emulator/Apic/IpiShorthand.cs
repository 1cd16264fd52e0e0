namespace Sharpvisor.Engines.Emulator.Apic;

/// <summary>The ICR's destination shorthand (bits 19:18).</summary>
public enum IpiShorthand
{
    None = 0,
    Self = 1,
    AllIncludingSelf = 2,
    AllExcludingSelf = 3,
}
