namespace Sharpvisor.Vmm.Configuration;

/// <summary>What the user asked for with --engine.</summary>
public enum EngineChoice
{
    Auto,
    Kvm,
    Emulator,
}
