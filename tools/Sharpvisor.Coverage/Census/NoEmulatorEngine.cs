using Iced.Intel;

namespace Sharpvisor.Coverage.Census;

/// <summary>The provider for builds without an emulator engine: nothing is implemented or verified.</summary>
public sealed class NoEmulatorEngine : IImplementedForms
{
    public static readonly NoEmulatorEngine Instance = new();

    public bool HasEngine => false;

    public string Description => "no emulator engine in this build";

    public bool IsImplemented(Code code) => false;

    public bool IsVerified(Code code) => false;
}
