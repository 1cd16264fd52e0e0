using Iced.Intel;

namespace Sharpvisor.Coverage.Census;

/// <summary>
/// What an emulator engine says about instruction forms: which it implements, and which of those a differential
/// oracle has verified against real hardware or a reference. The census report prints both columns from this.
/// </summary>
public interface IImplementedForms
{
    /// <summary>False when there is no emulator to ask; the report then says so instead of printing counts as facts.</summary>
    bool HasEngine { get; }

    /// <summary>A short description for the report, e.g. the engine's name and version.</summary>
    string Description { get; }

    bool IsImplemented(Code code);

    bool IsVerified(Code code);
}
