namespace Sharpvisor.Vmm.Lifecycle;

/// <summary>How a VM's run ended.</summary>
public enum VmOutcome
{
    /// <summary>The guest powered off (ACPI S5, or a test guest's debug-exit with status 0).</summary>
    PoweredOff,
    /// <summary>The guest asked for a reset and the VM was configured not to reboot.</summary>
    ResetRequested,
    /// <summary>A triple fault, or guest code the engine could not run.</summary>
    GuestCrashed,
    /// <summary>A test guest reported failure through the debug-exit port.</summary>
    GuestReportedFailure,
    /// <summary>Someone outside the guest stopped it (the console's quit escape, a signal, a test).</summary>
    Stopped,
    /// <summary>The VM was handed over to another VMM by a live migration and runs there now.</summary>
    Migrated,
    /// <summary>The VMM itself failed.</summary>
    VmmError,
}
