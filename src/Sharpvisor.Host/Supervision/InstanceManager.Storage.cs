using Sharpvisor.Host.Instances;
using Sharpvisor.Host.Storage;
using Sharpvisor.Vmm.Configuration;

namespace Sharpvisor.Host.Supervision;

public sealed partial class InstanceManager
{
    private StorageCatalog? _storage;

    /// <summary>The storage pool, its volumes and the images (<see cref="StorageCatalog"/>).</summary>
    public StorageCatalog Storage => _storage ??= new StorageCatalog(_options.Paths, List);

    public ImageView ImportImage(string name, string source) => Storage.ImportImage(name, source, _diskRoots);

    /// <summary>
    /// A new VM whose first disk is a new qcow2 volume on <paramref name="image"/> (named after the VM), made in
    /// milliseconds whatever the image's size; the volume goes again if the VM cannot be created.
    /// </summary>
    public async Task<InstanceRecord> CreateFromImageAsync(InstanceDefinition definition, string image)
    {
        if (InstanceDefinition.NameProblem(definition.Name) is { } problem) throw HostException.BadRequest(problem, "name");
        var volume = Storage.CreateVolume(StorageCatalog.DefaultPool, $"{definition.Name}-{image}.qcow2", null, "qcow2", image: image);
        try
        {
            return await CreateAsync(definition with { Disks = [new DiskSpec(volume.Path, ReadOnly: false, "qcow2"), .. definition.Disks] }).ConfigureAwait(false);
        }
        catch
        {
            Storage.DeleteVolume(StorageCatalog.DefaultPool, volume.Name);
            throw;
        }
    }
}
