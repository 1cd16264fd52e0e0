namespace Sharpvisor.Engines.Emulator.Memory;

/// <summary>Linear equals physical: paging off, or a test that places its data at the physical addresses it uses.</summary>
public sealed class IdentityTranslator : IAddressTranslator
{
    public static readonly IdentityTranslator Instance = new();

    public ulong Translate(ulong linear, AccessKind kind) => linear;

    // Nothing is cached: every translation is computed afresh.
    public void Flush(bool includeGlobal) { }
    public void InvalidatePage(ulong linear) { }
}
