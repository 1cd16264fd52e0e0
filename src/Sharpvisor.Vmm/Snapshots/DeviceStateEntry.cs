using System.Text.Json;

namespace Sharpvisor.Vmm.Snapshots;

/// <summary>
/// One device's saved record: the key the device gave itself (under its parent's: <c>pci/virtio-net tap0/virtio-net</c>),
/// its kind (which <see cref="DeviceStateRegistry"/> entry reads it), the record's version and the record as JSON.
/// </summary>
public sealed record DeviceStateEntry(string Key, string Kind, int Version, JsonElement State);
