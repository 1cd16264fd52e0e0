namespace Sharpvisor.Machine.Buses;

/// <summary>The x86 I/O port space, 0x0000-0xFFFF.</summary>
public sealed class PortIoBus() : Bus("port I/O bus")
{
    public void Register(ushort port, ushort count, IBusDevice device, string? deviceName = null)
    {
        if (port + count > 0x10000) throw new ArgumentOutOfRangeException(nameof(count), "ports end at 0xFFFF");
        Register((ulong)port, count, device, deviceName);
    }
}
