namespace Sharpvisor.Engines.Emulator.Execution;

/// <summary>
/// MSRs that a part of the machine other than the core owns (the local APIC's x2APIC range and TSC deadline, the
/// paravirtual clock). RDMSR and WRMSR ask the registered handlers before raising #GP for an unknown index.
/// </summary>
public interface IModelSpecificRegisterHandler
{
    /// <summary>True when <paramref name="index"/> belongs to this handler.</summary>
    bool TryRead(uint index, out ulong value);

    /// <summary>True when <paramref name="index"/> belongs to this handler and the value was accepted; false lets the core raise #GP.</summary>
    bool TryWrite(uint index, ulong value);
}
