using Sharpvisor.Host.Instances;
using Sharpvisor.Machine.Storage;
using Sharpvisor.Machine.Storage.Qcow2;

namespace Sharpvisor.Host.Storage;

/// <summary>
/// The daemon's storage: the directory pool "default", which is the state directory's disks/ folder (so a volume is a
/// file VMs may be given, under the disk-path rule of <see cref="DiskRoots"/>), and images in the state directory's
/// images/ folder: read-only qcow2 files a VM's volume is made on as an overlay, at once whatever the image's size.
/// Changes are made one at a time; a volume or image something rests on or a VM names is not deleted.
/// </summary>
public sealed class StorageCatalog(HostPaths paths, Func<IReadOnlyList<InstanceRecord>> instances)
{
    public const string DefaultPool = "default";
    private readonly Lock _changes = new();

    public string ImagesDirectory => ImagesFolder(paths);

    public static string ImagesFolder(HostPaths paths) => Path.Combine(paths.StateDirectory, "images");

    public IReadOnlyList<PoolView> ListPools()
    {
        string folder = PoolFolder(DefaultPool);
        var drive = new DriveInfo(folder);
        return [new PoolView(DefaultPool, folder, drive.TotalSize, drive.AvailableFreeSpace, VolumeFiles(folder).Count())];
    }

    public IReadOnlyList<VolumeView> ListVolumes(string pool) =>
        VolumeFiles(PoolFolder(pool)).Select(file => View(pool, file)).ToArray();

    public VolumeView GetVolume(string pool, string name) => View(pool, ExistingVolume(pool, name));

    /// <summary>A new empty volume, or a full copy of <paramref name="cloneOf"/>, or an overlay on image <paramref name="image"/>.</summary>
    public VolumeView CreateVolume(string pool, string name, ulong? size, string format, string? cloneOf = null, string? image = null)
    {
        StorageNames.Check("volume", name);
        if (format is not ("raw" or "qcow2")) throw HostException.BadRequest($"volume format '{format}' is not raw or qcow2", "format");
        string path = Path.Combine(PoolFolder(pool), name);
        lock (_changes)
        {
            if (File.Exists(path)) throw HostException.Conflict($"pool {pool} has a volume named '{name}' already");
            string temporary = Path.Combine(Path.GetDirectoryName(path)!, $".{name}.{Environment.ProcessId}.new");
            try
            {
                if (cloneOf is not null)
                {
                    string source = ExistingVolume(pool, cloneOf);
                    if (UsedBy(source, runningOnly: true) is [var running, ..])
                        throw HostException.Conflict($"volume '{cloneOf}' is in use by the running VM '{running}'; stop it for a consistent clone");
                    ImageConverter.Convert(source, null, temporary, format, compress: false);
                }
                else if (image is not null)
                {
                    if (format != "qcow2") throw HostException.BadRequest("a volume made on an image is a qcow2 overlay", "format");
                    string backing = ExistingImage(image);
                    ulong imageSize;
                    using (var opened = BlockBackendOpener.Open(backing, readOnly: true, "qcow2")) imageSize = opened.VirtualSize;
                    if (size is { } wanted && wanted < imageSize)
                        throw HostException.BadRequest($"a volume on image '{image}' is at least its {imageSize} bytes", "size");
                    Qcow2ImageCreator.Create(temporary, size ?? imageSize, backing, "qcow2");
                }
                else
                {
                    ulong bytes = size is > 0 and var s ? s : throw HostException.BadRequest("a new volume needs a size", "size");
                    if (format == "qcow2") Qcow2ImageCreator.Create(temporary, bytes);
                    else using (var file = File.Create(temporary)) file.SetLength((long)bytes);
                }
                File.Move(temporary, path);
            }
            catch (IOException e)
            {
                throw new HostException(500, $"cannot create volume '{name}': {e.Message}");
            }
            finally
            {
                File.Delete(temporary);
            }
        }
        return View(pool, path);
    }

    /// <summary>Grows a raw volume no VM is running on (the guest would not see its disk change size).</summary>
    public VolumeView ResizeVolume(string pool, string name, ulong size)
    {
        string path = ExistingVolume(pool, name);
        lock (_changes)
        {
            if (UsedBy(path, runningOnly: true) is [var running, ..])
                throw HostException.Conflict($"volume '{name}' is in use by the running VM '{running}'");
            string format = BlockBackendOpener.Probe(path);
            if (format != "raw") throw HostException.BadRequest($"volume '{name}' is {format}: only raw volumes can be resized so far", "size");
            long now = new FileInfo(path).Length;
            if ((long)size < now) throw HostException.BadRequest($"volume '{name}' is {now} bytes: it can grow, not shrink (the data past {size} would be lost)", "size");
            using var file = File.Open(path, FileMode.Open, FileAccess.ReadWrite);
            file.SetLength((long)size);
        }
        return View(pool, path);
    }

    public void DeleteVolume(string pool, string name)
    {
        string path = ExistingVolume(pool, name);
        lock (_changes)
        {
            if (UsedBy(path, runningOnly: false) is [var user, ..])
                throw HostException.Conflict($"volume '{name}' is a disk of the VM '{user}'");
            if (Overlays(path) is [var above, ..])
                throw HostException.Conflict($"volume '{name}' is the backing file of '{Path.GetFileName(above)}'");
            File.Delete(path);
        }
    }

    public IReadOnlyList<ImageView> ListImages() =>
        Directory.Exists(ImagesDirectory)
            ? Directory.EnumerateFiles(ImagesDirectory, "*.qcow2").Order(StringComparer.Ordinal).Select(ImageViewOf).ToArray()
            : [];

    public ImageView GetImage(string name) => ImageViewOf(ExistingImage(name));

    /// <summary>Copies <paramref name="source"/> (a file under the disk folders: the API reads no other host file) into a new qcow2 image.</summary>
    public ImageView ImportImage(string name, string source, DiskRoots roots)
    {
        StorageNames.Check("image", name);
        if (roots.FileProblem("image source", source) is { } problem) throw HostException.BadRequest(problem, "source");
        string path = ImagePath(name);
        lock (_changes)
        {
            if (File.Exists(path)) throw HostException.Conflict($"an image named '{name}' exists already");
            Directory.CreateDirectory(ImagesDirectory);
            string temporary = Path.Combine(ImagesDirectory, $".{name}.{Environment.ProcessId}.new");
            try
            {
                ImageConverter.Convert(source, null, temporary, "qcow2", compress: false);
                File.SetUnixFileMode(temporary, UnixFileMode.UserRead | UnixFileMode.GroupRead | UnixFileMode.OtherRead);
                File.Move(temporary, path);
            }
            catch (IOException e)
            {
                throw HostException.BadRequest($"cannot import {source}: {e.Message}", "source");
            }
            finally
            {
                File.Delete(temporary);
            }
        }
        return ImageViewOf(path);
    }

    public void DeleteImage(string name)
    {
        string path = ExistingImage(name);
        lock (_changes)
        {
            if (Overlays(path) is [var above, ..]) throw HostException.Conflict($"image '{name}' is the backing file of volume '{Path.GetFileName(above)}'");
            File.Delete(path);
        }
    }

    private string PoolFolder(string pool)
    {
        if (pool != DefaultPool) throw HostException.NotFound($"no storage pool named '{pool}' (this daemon has '{DefaultPool}')");
        Directory.CreateDirectory(paths.DisksDirectory);
        return paths.DisksDirectory;
    }

    private string ExistingVolume(string pool, string name)
    {
        StorageNames.Check("volume", name);
        string path = Path.Combine(PoolFolder(pool), name);
        return IsVolumeFile(path) ? path : throw HostException.NotFound($"pool {pool} has no volume named '{name}'");
    }

    private string ImagePath(string name) => Path.Combine(ImagesDirectory, name + ".qcow2");

    private string ExistingImage(string name)
    {
        StorageNames.Check("image", name);
        string path = ImagePath(name);
        return File.Exists(path) ? path : throw HostException.NotFound($"no image named '{name}'");
    }

    // Regular files only: a symbolic link in a pool could point anywhere.
    private static bool IsVolumeFile(string path) =>
        new FileInfo(path) is { Exists: true, LinkTarget: null } && !Path.GetFileName(path).StartsWith('.');

    private static IEnumerable<string> VolumeFiles(string folder) =>
        Directory.EnumerateFiles(folder).Where(IsVolumeFile).Order(StringComparer.Ordinal);

    private VolumeView View(string pool, string path)
    {
        var info = BlockImageInfo.Chain(path)[0];
        return new VolumeView(Path.GetFileName(path), pool, path, info.Format, info.VirtualSize, info.ActualSize,
            info.BackingFile is null ? null : Backing(path), UsedBy(path, runningOnly: false));
    }

    private ImageView ImageViewOf(string path)
    {
        var info = BlockImageInfo.Chain(path, "qcow2")[0];
        return new ImageView(Path.GetFileNameWithoutExtension(path), path, info.VirtualSize, info.ActualSize,
            Overlays(path).Select(Path.GetFileName).ToArray()!);
    }

    private List<string> UsedBy(string path, bool runningOnly) =>
        instances().Where(r => !runningOnly || r.Status is InstanceStatus.Running or InstanceStatus.Paused)
            .Where(r => r.Definition.Disks.Any(d => Path.GetFullPath(d.Path) == path)).Select(r => r.Name).ToList();

    /// <summary>The pool's volumes whose backing file is <paramref name="path"/>.</summary>
    private List<string> Overlays(string path) =>
        VolumeFiles(PoolFolder(DefaultPool)).Where(v => v != path && Backing(v) == path).ToList();

    private static string? Backing(string volume)
    {
        try
        {
            return BlockBackendOpener.Probe(volume) == "qcow2" ? Vmm.Snapshots.SnapshotDiskLayers.BackingOf(volume) : null;
        }
        catch (IOException)
        {
            return null;   // a damaged volume rests on nothing we can name
        }
    }
}
