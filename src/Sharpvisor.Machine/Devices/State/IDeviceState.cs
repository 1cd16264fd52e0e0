namespace Sharpvisor.Machine.Devices.State;

/// <summary>
/// A device's state record: plain data, serialized as it is. Its version is the record's, not each copy's, so no
/// device writes or checks it: the snapshot layer stores <see cref="CurrentVersion"/> beside the record and refuses
/// another one. Records nested in it (a queue, a configuration space) are part of it and share its version: change
/// any of them and raise this.
/// </summary>
public interface IDeviceState
{
    static abstract int CurrentVersion { get; }
}
