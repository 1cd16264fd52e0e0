using Sharpvisor.Machine.Buses;

namespace Sharpvisor.Machine.Devices.Virtio;

/// <summary>One BAR of a <see cref="VirtioPciDevice"/> as the MMIO bus sees it, so each BAR can be mapped and moved alone.</summary>
internal sealed class VirtioPciBarWindow(VirtioPciDevice owner, int barIndex) : IBusWindow
{
    public object Owner => owner;
    public int BarIndex { get; } = barIndex;

    public void Read(ulong offset, Span<byte> data) => owner.ReadBar(BarIndex, offset, data);
    public void Write(ulong offset, ReadOnlySpan<byte> data) => owner.WriteBar(BarIndex, offset, data);
}
