namespace Sharpvisor.Vmm.Snapshots;

/// <summary>One device of a machine as snapshots see it: the key it is saved under, the device, and words for messages.</summary>
public readonly record struct DeviceSite(string Key, object Device, string Description);
