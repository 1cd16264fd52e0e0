using Sharpvisor.Engines.Emulator.Execution;

namespace Sharpvisor.Engines.Emulator.Memory;

/// <summary>
/// Maps a few linear windows onto guest-physical memory, anything else faulting with #PF: how the differential
/// oracle gives the emulator the same addresses the native run used.
/// </summary>
public sealed class WindowTranslator : IAddressTranslator
{
    private readonly List<(ulong Linear, ulong Size, ulong Physical)> _windows = [];

    public void Map(ulong linear, ulong size, ulong physical) => _windows.Add((linear, size, physical));

    public ulong Translate(ulong linear, AccessKind kind)
    {
        foreach (var (start, size, physical) in _windows)
            if (linear >= start && linear - start < size) return physical + (linear - start);
        uint errorCode = (kind is AccessKind.Write or AccessKind.SystemStructureWrite ? 2u : 0u) | (kind == AccessKind.Execute ? 0x10u : 0u) | 4u;
        throw new GuestFault(GuestFault.PageFault, errorCode, linear);
    }

    // Nothing is cached: every translation is computed afresh.
    public void Flush(bool includeGlobal) { }
    public void InvalidatePage(ulong linear) { }
}
