using System.Text.Json;
using Sharpvisor.Machine.Devices.State;

namespace Sharpvisor.Vmm.Snapshots;

/// <summary>
/// How one device type's record goes into a <see cref="DeviceStateEntry"/> and back (see
/// <see cref="DeviceStateRegistry"/>). The version check and the strict reading live here once, for every device.
/// </summary>
public abstract class DeviceStateCodec(string kind, Type deviceType, bool engineOwned)
{
    public string Kind { get; } = kind;
    public Type DeviceType { get; } = deviceType;
    /// <summary>The engine's own device (the emulator's IOAPIC; KVM keeps its own in the kernel): another engine leaves it behind.</summary>
    public bool EngineOwned { get; } = engineOwned;
    public abstract int Version { get; }
    public abstract Type StateType { get; }

    /// <summary>The record of <paramref name="device"/>, one of <see cref="DeviceType"/>, under <paramref name="key"/>.</summary>
    public abstract DeviceStateEntry Save(object device, string key);

    /// <summary>Loads <paramref name="entry"/> into <paramref name="device"/>; a record it cannot take is a <see cref="SnapshotException"/> naming the device.</summary>
    public void Restore(object device, DeviceStateEntry entry)
    {
        var state = Read(entry);
        try
        {
            RestoreRecord(device, state);
        }
        catch (ArgumentException e)
        {
            throw new SnapshotException($"the {Kind} state of {entry.Key} is not usable: {e.Message}", e);
        }
    }

    /// <summary>The record in <paramref name="entry"/>, refused unless it is this build's version and has exactly this build's members.</summary>
    public object Read(DeviceStateEntry entry)
    {
        if (entry.Version != Version)
            throw new SnapshotException($"the {Kind} state of {entry.Key} is version {entry.Version}; this build reads version {Version}");
        try
        {
            return entry.State.Deserialize(StateType, DeviceStateJson.Options)
                ?? throw new JsonException("the record is null");
        }
        catch (Exception e) when (e is JsonException or InvalidOperationException) // the latter: no record at all
        {
            throw new SnapshotException($"the {Kind} state of {entry.Key} does not match this build's record: {e.Message}", e);
        }
    }

    protected abstract void RestoreRecord(object device, object state);
}

/// <summary>The codec of devices implementing <see cref="IStatefulDevice{TState}"/>: their own two methods, nothing else.</summary>
public sealed class DeviceStateCodec<TDevice, TState>(string kind, bool engineOwned)
    : DeviceStateCodec(kind, typeof(TDevice), engineOwned)
    where TDevice : class, IStatefulDevice<TState>
    where TState : class, IDeviceState
{
    public override int Version => TState.CurrentVersion;
    public override Type StateType => typeof(TState);

    public override DeviceStateEntry Save(object device, string key) =>
        new(key, Kind, Version, JsonSerializer.SerializeToElement(((TDevice)device).SaveState(), DeviceStateJson.Options));

    protected override void RestoreRecord(object device, object state) => ((TDevice)device).RestoreState((TState)state);
}
