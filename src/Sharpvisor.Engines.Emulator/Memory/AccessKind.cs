namespace Sharpvisor.Engines.Emulator.Memory;

/// <summary>Why the CPU touches memory; translation checks permissions by it.</summary>
public enum AccessKind : byte
{
    Read,
    Write,
    Execute,
}
