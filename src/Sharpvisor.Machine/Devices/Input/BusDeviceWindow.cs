using Sharpvisor.Machine.Buses;

namespace Sharpvisor.Machine.Devices.Input;

/// <summary>
/// Shows one part of a device's register block at its own bus range: accesses reach <paramref name="target"/> with
/// <paramref name="shift"/> added to their offset. Lets a device whose ports are not contiguous (0x60 and 0x64) leave
/// the ports between them to others.
/// </summary>
internal sealed class BusDeviceWindow(IBusDevice target, ulong shift) : IBusWindow
{
    public object Owner => target;

    public void Read(ulong offset, Span<byte> data) => target.Read(shift + offset, data);
    public void Write(ulong offset, ReadOnlySpan<byte> data) => target.Write(shift + offset, data);
}
