namespace Sharpvisor.Engines;

/// <summary>The two ways Sharpvisor runs guest code, like QEMU's accelerators.</summary>
public enum EngineKind
{
    /// <summary>Hardware-assisted, through /dev/kvm.</summary>
    Kvm,
    /// <summary>Our own software x86-64 CPU.</summary>
    Emulator,
}
