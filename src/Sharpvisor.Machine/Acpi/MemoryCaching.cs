namespace Sharpvisor.Machine.Acpi;

/// <summary>The _MEM field of a memory address space descriptor.</summary>
public enum MemoryCaching : byte
{
    NonCacheable = 0,
    Cacheable = 1,
    WriteCombining = 2,
    Prefetchable = 3,
}
