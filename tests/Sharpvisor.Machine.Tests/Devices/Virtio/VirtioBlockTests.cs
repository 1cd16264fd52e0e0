using System.Buffers.Binary;
using Sharpvisor.Machine.Devices.Virtio;

namespace Sharpvisor.Machine.Tests.Devices.Virtio;

/// <summary>virtio-blk over a temporary raw image, through the PCI transport and the device's I/O thread.</summary>
public sealed class VirtioBlockTests : IDisposable
{
    private const ulong Header = FakeVirtioDriver.DataArea, Status = Header + 0x100, Buffer = Header + 0x1000;
    private const int Sectors = 256;
    private readonly string _path = Path.Combine(Path.GetTempPath(), $"sharpvisor-blk-{Guid.NewGuid():N}.img");
    private readonly byte[] _original = new byte[Sectors * VirtioBlock.SectorSize];
    private FakeVirtioDriver? _driver;
    private VirtioBlock? _block;

    public VirtioBlockTests()
    {
        for (int i = 0; i < _original.Length; i++) _original[i] = (byte)(i / VirtioBlock.SectorSize + i * 7);
        File.WriteAllBytes(_path, _original);
    }

    public void Dispose()
    {
        _driver?.Dispose();
        File.Delete(_path);
    }

    private FakeVirtioDriver Open(bool readOnly = false)
    {
        _block = new VirtioBlock(_path, readOnly, "disk-serial-0123456789");
        _driver = new FakeVirtioDriver(_block);
        _driver.EnableMsix(1, 0xFEE0_0000, 0x60);
        _driver.Start(msixVector: 1);
        return _driver;
    }

    private void WriteHeader(ulong at, uint type, ulong sector)
    {
        _driver!.Memory.WriteUInt32(at, type);
        _driver.Memory.WriteUInt32(at + 4, 0);
        _driver.Memory.WriteUInt64(at + 8, sector);
    }

    /// <summary>Submits header, one data buffer and the status byte; waits; returns the status and used length.</summary>
    private (byte Status, uint Used) Request(uint type, ulong sector, uint dataLength, bool dataWritable)
    {
        var driver = _driver!;
        WriteHeader(Header, type, sector);
        driver.Memory.WriteByte(Status, 0xEE);
        ushort expected = (ushort)(driver.UsedIndex + 1);
        if (dataLength == 0) driver.Submit((Header, 16, false), (Status, 1, true));
        else driver.Submit((Header, 16, false), (Buffer, dataLength, dataWritable), (Status, 1, true));
        driver.Notify();
        Assert.True(driver.WaitUsed(expected), "the request did not complete");
        return (driver.Memory.ReadByte(Status), driver.UsedElement(expected - 1).Length);
    }

    private byte[] FileBytes()
    {
        using var stream = new FileStream(_path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var bytes = new byte[stream.Length];
        stream.ReadExactly(bytes);
        return bytes;
    }

    [Fact]
    public void Configuration_reports_capacity_and_limits()
    {
        var driver = Open();
        ulong config = driver.Bar0 + VirtioPciDevice.DeviceConfigOffset;
        Assert.Equal((ulong)Sectors, driver.ReadBar(config, 8));
        Assert.Equal(VirtioBlock.SegmentMax, driver.ReadBar(config + 12, 4));
        Assert.Equal(512UL, driver.ReadBar(config + 20, 4));
        ulong features = driver.OfferedFeatures();
        Assert.NotEqual(0UL, features & VirtioBlock.FeatureFlush);
        Assert.NotEqual(0UL, features & VirtioBlock.FeatureDiscard);
        Assert.Equal(0UL, features & VirtioBlock.FeatureReadOnly);
    }

    [Fact]
    public void A_paused_disk_leaves_requests_in_the_ring_until_it_resumes()
    {
        var driver = Open();
        _block!.PauseProcessing();
        WriteHeader(Header, VirtioBlock.RequestIn, 2);
        driver.Memory.WriteByte(Status, 0xEE);
        driver.Submit((Header, 16, false), (Buffer, 512, true), (Status, 1, true));
        driver.Notify();
        Assert.False(driver.WaitUsed(1, timeoutMs: 300), "a paused disk served a request");
        Assert.Equal(0xEE, driver.Memory.ReadByte(Status));
        _block.ResumeProcessing();
        Assert.True(driver.WaitUsed(1), "the request did not complete after resume");
        Assert.Equal(VirtioBlock.StatusOk, driver.Memory.ReadByte(Status));
        Assert.Equal(_original.AsSpan(2 * 512, 512).ToArray(), driver.Memory.GetSpan(Buffer, 512).ToArray());
    }

    [Fact]
    public void Reads_sectors_into_guest_memory()
    {
        var driver = Open();
        var (status, used) = Request(VirtioBlock.RequestIn, 3, 1024, true);
        Assert.Equal(VirtioBlock.StatusOk, status);
        Assert.Equal(1025u, used);
        Assert.Equal(_original.AsSpan(3 * 512, 1024).ToArray(), driver.Memory.GetSpan(Buffer, 1024).ToArray());
    }

    [Fact]
    public void Writes_reach_the_file_and_flush_succeeds()
    {
        var driver = Open();
        var data = new byte[1536];
        Random.Shared.NextBytes(data);
        driver.Memory.Write(Buffer, data);
        Assert.Equal((VirtioBlock.StatusOk, 1u), Request(VirtioBlock.RequestOut, 10, 1536, false));
        Assert.Equal((VirtioBlock.StatusOk, 1u), Request(VirtioBlock.RequestFlush, 0, 0, false));
        Assert.Equal(data, FileBytes().AsSpan(10 * 512, 1536).ToArray());
        Assert.Equal(_original.AsSpan(0, 10 * 512).ToArray(), FileBytes().AsSpan(0, 10 * 512).ToArray());
    }

    [Fact]
    public void A_request_through_an_indirect_table_with_scattered_buffers_works()
    {
        var driver = Open();
        WriteHeader(Header, VirtioBlock.RequestIn, 0);
        driver.SubmitIndirect(0x200000, (Header, 16, false), (Buffer, 512, true), (Buffer + 0x4000, 512, true), (Status, 1, true));
        driver.Notify();
        Assert.True(driver.WaitUsed(1));
        Assert.Equal(_original.AsSpan(0, 512).ToArray(), driver.Memory.GetSpan(Buffer, 512).ToArray());
        Assert.Equal(_original.AsSpan(512, 512).ToArray(), driver.Memory.GetSpan(Buffer + 0x4000, 512).ToArray());
        Assert.Equal(VirtioBlock.StatusOk, driver.Memory.ReadByte(Status));
    }

    [Fact]
    public void Get_id_returns_the_serial_truncated_to_20_bytes()
    {
        var driver = Open();
        var (status, used) = Request(VirtioBlock.RequestGetId, 0, 20, true);
        Assert.Equal(VirtioBlock.StatusOk, status);
        Assert.Equal(21u, used);
        Assert.Equal("disk-serial-01234567"u8.ToArray(), driver.Memory.GetSpan(Buffer, 20).ToArray());
    }

    [Theory]
    [InlineData(VirtioBlock.RequestDiscard)]
    [InlineData(VirtioBlock.RequestWriteZeroes)]
    public void Discard_and_write_zeroes_leave_zeros_and_keep_the_size(uint type)
    {
        var driver = Open();
        Span<byte> range = stackalloc byte[16];
        BinaryPrimitives.WriteUInt64LittleEndian(range, 16);
        BinaryPrimitives.WriteUInt32LittleEndian(range[8..], 64);
        BinaryPrimitives.WriteUInt32LittleEndian(range[12..], type == VirtioBlock.RequestWriteZeroes ? VirtioBlock.WriteZeroesUnmap : 0);
        driver.Memory.Write(Buffer, range);
        Assert.Equal((VirtioBlock.StatusOk, 1u), Request(type, 0, 16, false));
        var after = FileBytes();
        Assert.Equal(_original.Length, after.Length);
        Assert.All(after.AsSpan(16 * 512, 64 * 512).ToArray(), b => Assert.Equal(0, b));
        Assert.Equal(_original.AsSpan(80 * 512).ToArray(), after.AsSpan(80 * 512).ToArray());
        Assert.Equal(_original.AsSpan(0, 16 * 512).ToArray(), after.AsSpan(0, 16 * 512).ToArray());
    }

    [Fact]
    public void Out_of_range_misaligned_and_unknown_requests_fail_without_breaking_the_device()
    {
        Open();
        Assert.Equal(VirtioBlock.StatusIoError, Request(VirtioBlock.RequestIn, Sectors - 1, 1024, true).Status);
        Assert.Equal(VirtioBlock.StatusIoError, Request(VirtioBlock.RequestIn, ulong.MaxValue, 512, true).Status);
        Assert.Equal(VirtioBlock.StatusIoError, Request(VirtioBlock.RequestOut, 0, 100, false).Status);
        Assert.Equal(VirtioBlock.StatusUnsupported, Request(77, 0, 0, false).Status);
        Assert.Equal(VirtioBlock.StatusOk, Request(VirtioBlock.RequestIn, 0, 512, true).Status);
        Assert.False(_driver!.Device.IsBroken);
        Assert.Equal(_original, FileBytes());
    }

    [Fact]
    public void A_read_only_disk_offers_RO_and_refuses_writes()
    {
        var driver = Open(readOnly: true);
        ulong features = driver.OfferedFeatures();
        Assert.NotEqual(0UL, features & VirtioBlock.FeatureReadOnly);
        Assert.Equal(0UL, features & VirtioBlock.FeatureDiscard);
        driver.Memory.Write(Buffer, new byte[512]);
        Assert.Equal(VirtioBlock.StatusIoError, Request(VirtioBlock.RequestOut, 0, 512, false).Status);
        Assert.Equal(VirtioBlock.StatusOk, Request(VirtioBlock.RequestIn, 0, 512, true).Status);
        Assert.Equal(_original, FileBytes());
    }

    [Fact]
    public void A_request_without_header_or_status_sets_NEEDS_RESET()
    {
        var driver = Open();
        driver.Submit((Header, 8, false), (Status, 1, true));
        driver.Notify();
        Assert.False(driver.WaitUsed(1, 2000));
        Assert.True(driver.Device.IsBroken);
        Assert.Single(driver.Log);
    }

    [Fact]
    public void Requests_available_at_one_notification_complete_in_one_batch_with_one_interrupt()
    {
        var driver = Open();
        const int count = 20;   // 60 descriptors of the 64
        // Held while the driver fills the ring: otherwise the I/O thread, woken by DRIVER_OK, may take the first
        // chains while the rest are still being written, and the batches depend on thread timing.
        _block!.PauseProcessing();
        for (int i = 0; i < count; i++)
        {
            ulong header = Header + 0x1000UL * (ulong)(i + 2);
            WriteHeader(header, VirtioBlock.RequestIn, (ulong)i);
            driver.Submit((header, 16, false), (header + 0x100, 512, true), (header + 0x80, 1, true));
        }
        _block.ResumeProcessing();
        driver.Notify();
        Assert.True(driver.WaitUsed(count));
        for (int i = 0; i < count; i++)
            Assert.Equal(_original.AsSpan(i * 512, 512).ToArray(), driver.Memory.GetSpan(Header + 0x1000UL * (ulong)(i + 2) + 0x100, 512).ToArray());
        Thread.Sleep(50);
        Assert.Equal(count, _block.RequestsCompleted);
        Assert.Equal(1, _block.Batches);
        Assert.Single(driver.Interrupts.Messages);
    }
}
