using Sharpvisor.Host;
using Sharpvisor.Vmm.Configuration;

namespace Sharpvisor.Api.Rest.Contracts;

/// <summary>
/// The body of POST /1.0/storage-pools/{pool}/volumes: an empty volume of <see cref="Size"/>, or a full copy of the
/// pool's volume <see cref="Source"/>, or a qcow2 overlay on <see cref="Image"/>. Sizes have a unit: "10G".
/// </summary>
public sealed record VolumeRequest(string? Name, string? Size = null, string? Format = null, string? Source = null, string? Image = null)
{
    public ulong? Bytes => StorageSize.Parse(Size, "size");
}

/// <summary>The body of PATCH /1.0/storage-pools/{pool}/volumes/{volume}: its new size.</summary>
public sealed record VolumeResizeRequest(string? Size)
{
    public ulong Bytes => StorageSize.Parse(Size, "size") ?? throw HostException.BadRequest("a resize needs the new size", "size");
}

/// <summary>The body of POST /1.0/images: a file under the daemon's disk folders to copy into a new image.</summary>
public sealed record ImageRequest(string? Name, string? Source);

internal static class StorageSize
{
    public static ulong? Parse(string? text, string field)
    {
        if (text is null) return null;
        try { return MemorySize.Parse(text, MemorySize.Bytes); }
        catch (FormatException e) { throw HostException.BadRequest(e.Message, field); }
    }
}
