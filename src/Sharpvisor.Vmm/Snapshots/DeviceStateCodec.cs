using System.Text.Json;

namespace Sharpvisor.Vmm.Snapshots;

/// <summary>How one device type's state goes into a snapshot and back (see <see cref="DeviceStateCodecs"/>).</summary>
public sealed record DeviceStateCodec(string Kind, Type DeviceType, Func<object, JsonElement> Save, Action<object, JsonElement> Restore);
