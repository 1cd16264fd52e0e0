using System.Text.Json;

namespace Sharpvisor.Vmm.Snapshots;

/// <summary>
/// One device's saved record: where it sits (<c>port:0x3f8</c>, <c>mmio:0xfec00000</c>), its kind (which
/// <see cref="DeviceStateCodecs"/> entry reads it), and the record itself as JSON. <see cref="EngineOwned"/> marks
/// state an engine keeps for itself (the emulator's IOAPIC; KVM keeps its own in the kernel), which a restore on
/// the other engine leaves behind.
/// </summary>
public sealed record DeviceStateEntry(string Location, string Kind, bool EngineOwned, JsonElement State);
