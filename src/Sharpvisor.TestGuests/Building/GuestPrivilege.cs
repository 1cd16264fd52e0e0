namespace Sharpvisor.TestGuests.Building;

/// <summary>The ring a guest's main code runs in.</summary>
public enum GuestPrivilege
{
    /// <summary>Ring 0, interrupts off. For guests that need privileged instructions (hlt, APIC setup).</summary>
    Kernel,

    /// <summary>Ring 3 with IOPL 3, so it may still use the serial and debug-exit ports; interrupts off.
    /// Hot loops belong here: on PVM, ring-3 code runs natively while ring-0 code is emulated.</summary>
    User,
}
