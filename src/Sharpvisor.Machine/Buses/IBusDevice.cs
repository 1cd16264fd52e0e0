namespace Sharpvisor.Machine.Buses;

/// <summary>
/// A device reached through a bus. Offsets are relative to the base of the range the device registered, so a device
/// does not care where it was placed. Calls may come from any vCPU thread; a device guards its own state.
/// </summary>
public interface IBusDevice
{
    void Read(ulong offset, Span<byte> data);
    void Write(ulong offset, ReadOnlySpan<byte> data);
}
