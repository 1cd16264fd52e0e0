namespace Sharpvisor.Engines.Emulator.Memory;

/// <summary>Why the CPU touches memory; translation checks permissions by it.</summary>
public enum AccessKind : byte
{
    /// <summary>A data read, with the privilege of the current CPL (CPL 3 is a user access).</summary>
    Read,
    /// <summary>A data write, with the privilege of the current CPL.</summary>
    Write,
    /// <summary>An instruction fetch, with the privilege of the current CPL.</summary>
    Execute,
    /// <summary>
    /// An implicit supervisor read of a system structure (GDT, LDT, IDT, TSS descriptors, the TSS stack pointers):
    /// checked as a supervisor access whatever the CPL, as the architecture does.
    /// </summary>
    SystemStructureRead,
    /// <summary>
    /// An implicit supervisor write (descriptor accessed/busy bits, the frame an interrupt or exception pushes on its
    /// new stack): a supervisor access whatever the CPL.
    /// </summary>
    SystemStructureWrite,
}
