using Sharpvisor.Machine.Devices.Virtio;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Machine.Tests.Devices.Virtio;

/// <summary>
/// Every write a virtio device makes into guest RAM is announced through <see cref="GuestMemory.WrittenOutsideVcpus"/>
/// (the emulator drops code decoded from those pages) and lands in the VMM's dirty-page log when it is on.
/// </summary>
public sealed class DeviceWriteNotificationTests : IDisposable
{
    private const ulong Header = FakeVirtioDriver.DataArea, Status = Header + 0x100, Buffer = Header + 0x3000;
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"sharpvisor-notify-{Guid.NewGuid():N}.img");
    private readonly List<(ulong Start, ulong Length)> _written = [];
    private FakeVirtioDriver? _driver;

    public DeviceWriteNotificationTests() => File.WriteAllBytes(_path, new byte[64 * VirtioBlock.SectorSize]);

    public void Dispose()
    {
        _driver?.Dispose();
        File.Delete(_path);
    }

    private FakeVirtioDriver Open(IVirtioDevice device)
    {
        _driver = new FakeVirtioDriver(device);
        _driver.EnableMsix(1, 0xFEE0_0000, 0x60);
        _driver.Start(msixVector: 1);
        // Only what the device writes from here on: the fake driver's own set-up writes go through GuestMemory.Write too.
        _driver.Memory.WrittenOutsideVcpus += (start, length) => { lock (_written) _written.Add((start, length)); };
        return _driver;
    }

    private bool Covered(ulong start, ulong length)
    {
        lock (_written) return _written.Any(w => w.Start <= start && start + length <= w.Start + w.Length);
    }

    private static GuestMemoryRegion RegionOf(GuestMemory memory, ulong gpa) => memory.FindRegion(gpa)!;

    [Fact]
    public void A_disk_read_announces_the_data_the_status_and_the_used_ring()
    {
        var driver = Open(new VirtioBlock(_path, readOnly: false, "notify"));
        var region = RegionOf(driver.Memory, Buffer);
        region.StartVmmDirtyTracking();
        driver.Memory.WriteUInt32(Header, 0);       // VIRTIO_BLK_T_IN
        driver.Memory.WriteUInt32(Header + 4, 0);
        driver.Memory.WriteUInt64(Header + 8, 3);   // sector 3
        lock (_written) _written.Clear();
        region.VmmDirtyPages!.Clear();

        driver.Submit((Header, 16, false), (Buffer, 8192, true), (Status, 1, true));
        driver.Notify();
        Assert.True(driver.WaitUsed(1), "the request did not complete");

        Assert.True(Covered(Buffer, 8192), "the data read into guest RAM was not announced");
        Assert.True(Covered(Status, 1), "the status byte was not announced");
        Assert.True(Covered(FakeVirtioDriver.UsedRing + 2, 2), "the used index was not announced");
        Assert.True(Covered(FakeVirtioDriver.UsedRing + 4, 8), "the used element was not announced");
        ulong bufferPage = (Buffer - region.GuestPhysicalAddress) / GuestMemoryRegion.PageSize;
        Assert.True(region.VmmDirtyPages.IsDirty(bufferPage) && region.VmmDirtyPages.IsDirty(bufferPage + 1));
        Assert.False(region.VmmDirtyPages.IsDirty(bufferPage + 2));
    }

    [Fact]
    public void Random_bytes_are_announced()
    {
        var driver = Open(new VirtioRng());
        driver.Submit((Buffer, 64, true));
        driver.Notify();
        Assert.True(driver.WaitUsed(1), "the request did not complete");
        Assert.True(Covered(Buffer, 64));
    }

    [Fact]
    public void A_noted_range_outside_ram_is_ignored_and_an_empty_one_says_nothing()
    {
        using var memory = GuestMemory.CreateX86(16 << 20);
        var seen = new List<(ulong, ulong)>();
        memory.WrittenOutsideVcpus += (start, length) => seen.Add((start, length));
        memory.NoteDeviceWrite(0xFFFF_0000_0000, 16);
        memory.NoteDeviceWrite(0x1000, 0);
        Assert.Empty(seen);
        memory.NoteDeviceWrite(0x1000, 16);
        Assert.Equal([(0x1000UL, 16UL)], seen);
    }
}
