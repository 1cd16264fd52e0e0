namespace Sharpvisor.Vmm.Migration;

/// <summary>The kinds of section in a migration stream (<see cref="MigrationFormat"/>).</summary>
public enum MigrationSectionType : byte
{
    /// <summary>Source: the VM's configuration and RAM layout (<see cref="MigrationHello"/> as JSON). Always first.</summary>
    Config = 1,
    /// <summary>Source: a batch of pages of one round (see <see cref="MigrationFormat"/>).</summary>
    Pages = 2,
    /// <summary>Source: vCPUs, devices and the clock, taken with the VM paused (<see cref="MigrationMachineState"/> as JSON).</summary>
    State = 3,
    /// <summary>Source: the end of the stream: rounds (u32) and pages sent (u64), for the destination to check.</summary>
    End = 4,
    /// <summary>Destination: the VM is built from what arrived and is about to run; the source may stop.</summary>
    Ack = 5,
    /// <summary>Destination: it refuses the migration; the payload is the reason (UTF-8).</summary>
    Error = 6,
    /// <summary>
    /// Source, empty, before it pauses the VM: pages sent so far may still sit in socket buffers; the pause waits
    /// until the destination has applied them, so that backlog is not downtime.
    /// </summary>
    Sync = 7,
    /// <summary>Destination, empty: every page sent before the Sync is in its RAM.</summary>
    Synced = 8,
}
