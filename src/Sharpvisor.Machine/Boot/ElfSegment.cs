namespace Sharpvisor.Machine.Boot;

/// <summary>A PT_LOAD program header: file bytes to copy to a physical address, zero-filled up to MemorySize.</summary>
public sealed record ElfSegment(ulong FileOffset, ulong FileSize, ulong VirtualAddress, ulong PhysicalAddress, ulong MemorySize)
{
    public ulong PhysicalEnd => PhysicalAddress + MemorySize;
}
