namespace Sharpvisor.Machine.Interrupts;

/// <summary>One GSI wired to a device, so the device does not need to know its number.</summary>
public sealed class InterruptLine(IInterruptController controller, uint gsi)
{
    public uint Gsi { get; } = gsi;

    public void Assert() => controller.SetIrqLevel(Gsi, true);
    public void Deassert() => controller.SetIrqLevel(Gsi, false);
    public void Set(bool asserted) => controller.SetIrqLevel(Gsi, asserted);

    /// <summary>An edge: raise and lower at once.</summary>
    public void Pulse()
    {
        controller.SetIrqLevel(Gsi, true);
        controller.SetIrqLevel(Gsi, false);
    }
}
