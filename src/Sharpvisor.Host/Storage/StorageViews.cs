namespace Sharpvisor.Host.Storage;

/// <summary>A storage pool as the API shows it: a folder of volumes and the space left on its file system.</summary>
public sealed record PoolView(string Name, string Path, long CapacityBytes, long FreeBytes, int Volumes);

/// <summary>A volume (a disk image file of a pool): sizes, the image it rests on, the VMs whose definitions name it.</summary>
public sealed record VolumeView(string Name, string Pool, string Path, string Format, ulong VirtualSize, long ActualSize,
    string? Backing, IReadOnlyList<string> UsedBy);

/// <summary>An image: a read-only qcow2 file that volumes are made on as overlays.</summary>
public sealed record ImageView(string Name, string Path, ulong VirtualSize, long ActualSize, IReadOnlyList<string> Overlays);
