namespace Sharpvisor.Vmm.Snapshots;

/// <summary>
/// Guest RAM in the snapshot: one sparse file holding each region at <see cref="MemoryImageRegion.FileOffset"/>, page
/// for page, with holes where the guest never touched a page (or left it zero). A restore maps the file privately
/// over guest RAM, so pages load when the guest first touches them. <see cref="Sha256"/> covers every stored page with
/// its region and number.
/// </summary>
public sealed record MemoryImage
{
    public required string FileName { get; init; }
    public ulong FileSize { get; init; }
    public required MemoryImageRegion[] Regions { get; init; }
    public required string Sha256 { get; init; }
    public ulong StoredPages => Regions.Aggregate(0UL, (n, r) => n + r.StoredPages);
}
