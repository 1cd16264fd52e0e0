namespace Sharpvisor.Machine.Buses;

/// <summary>
/// A bus range that shows part of another device (the i8042's two ports, a virtio-pci BAR). Whatever walks the buses
/// for devices (snapshots) takes <see cref="Owner"/> instead: the window itself holds nothing.
/// </summary>
public interface IBusWindow : IBusDevice
{
    object Owner { get; }
}
