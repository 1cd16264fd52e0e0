using Sharpvisor.Machine.Devices.Pci;
using Sharpvisor.Machine.Devices.Virtio;

namespace Sharpvisor.Machine.Tests.Devices.Virtio;

/// <summary>
/// Random virtqueue contents (descriptor tables, indirect tables, available rings, request headers) and random
/// transport register writes, fed to every device: nothing may throw out of a device, and after every case the device
/// is consistent: either it completed exactly what was made available, with used entries naming real descriptors, or
/// it asked for a reset with exactly one log line. A reset then always brings it back. Cases per device:
/// SHARPVISOR_VIRTIO_FUZZ_CASES (default 2000); the seed is in the failure message.
/// </summary>
public sealed class VirtioFuzzTests(Xunit.Abstractions.ITestOutputHelper output)
{
    private static int Cases => int.TryParse(Environment.GetEnvironmentVariable("SHARPVISOR_VIRTIO_FUZZ_CASES"), out int n) && n > 0 ? n : 2000;

    private const ulong DataStart = FakeVirtioDriver.DataArea, DataLength = 0x20000, IndirectArea = 0x200000;

    [Theory]
    [InlineData("virtio-rng", 1)]
    [InlineData("virtio-blk", 2)]
    [InlineData("virtio-blk-ro", 3)]
    [InlineData("virtio-balloon", 4)]
    [InlineData("virtio-net-rx", 5)]
    [InlineData("virtio-net-tx", 6)]
    [InlineData("virtio-vsock-tx", 7)]
    public void Random_queue_contents_never_escape_a_device_and_leave_it_consistent(string kind, int seed)
    {
        string image = Path.Combine(Path.GetTempPath(), $"sharpvisor-fuzz-{Guid.NewGuid():N}.img");
        File.WriteAllBytes(image, new byte[1 << 20]);
        try
        {
            IVirtioDevice model = kind switch
            {
                "virtio-rng" => new VirtioRng(),
                "virtio-blk" => new VirtioBlock(image, readOnly: false),
                "virtio-balloon" => new VirtioBalloon(),
                // Receive: a backend that delivers frames of random lengths without end, so posted chains get used.
                "virtio-net-rx" => new VirtioNet(new InMemoryNetBackend { Flood = seed }, [0x52, 0x54, 0, 0, 0, 1]),
                "virtio-net-tx" => new VirtioNet(new InMemoryNetBackend(), [0x52, 0x54, 0, 0, 0, 2]),
                "virtio-vsock-tx" => new VirtioVsock(3, image + ".vsock"),
                _ => new VirtioBlock(image, readOnly: true),
            };
            using var driver = new FakeVirtioDriver(model);
            var random = new Random(seed);
            int queue = kind switch { "virtio-net-tx" => VirtioNet.TransmitQueue, "virtio-vsock-tx" => VirtioVsock.TransmitQueue, _ => 0 };
            int broken = 0, completed = 0;
            for (int n = 0; n < Cases; n++)
            {
                string where = $"{kind}, seed {seed}, case {n}";
                if (RunCase(driver, random, where, queue)) broken++;
                else completed++;
            }
            output.WriteLine($"{kind}: {Cases} cases, {completed} completed, {broken} set NEEDS_RESET");
            Assert.Equal(1L << 20, new FileInfo(image).Length);
            // Both outcomes must have been exercised for the fuzzing to mean anything.
            Assert.True(broken > Cases / 20, $"{kind}: only {broken} of {Cases} cases broke the device");
            Assert.True(completed > Cases / 20, $"{kind}: only {completed} of {Cases} cases completed");
        }
        finally
        {
            File.Delete(image);
        }
    }

    /// <summary>One random case on queue <paramref name="queue"/>; returns whether the device ended up asking for a reset.</summary>
    private static bool RunCase(FakeVirtioDriver driver, Random random, string where, int queue)
    {
        ulong features = VirtioFeatures.Version1;
        if (random.Next(2) == 0) features |= VirtioFeatures.RingEventIndex;
        if (random.Next(4) != 0) features |= VirtioFeatures.RingIndirectDescriptors;
        features |= driver.OfferedFeatures() & (ulong)random.NextInt64() & 0xFF_FFFF;
        ushort size = (ushort)(1 << random.Next(0, 7));
        bool msix = random.Next(2) == 0;
        if (msix) driver.EnableMsix(1, 0xFEE0_0000, 0x70);
        driver.Start(features, size, msix ? (ushort)1 : null, queue);
        // A device with an I/O thread may start on the ring while it is being filled, so count log lines from here.
        int logBefore = driver.Log.Count;

        var memory = driver.Memory;
        random.NextBytes(memory.GetSpan(DataStart, (int)DataLength));
        // Plausible block request headers at the starts of pages, so some chains are valid requests.
        for (ulong page = DataStart; page < DataStart + DataLength; page += 0x1000)
        {
            memory.WriteUInt32(page, (uint)PickOne(random, 0, 1, 4, 8, 11, 13, random.Next()));
            memory.WriteUInt64(page + 8, (ulong)PickOne(random, 0, 1, 100, 2047, 2048, random.NextInt64()));
        }

        for (ushort i = 0; i < size; i++) WriteRandomDescriptor(driver, random, FakeVirtioDriver.DescriptorTable, i, size);
        for (ushort i = 0; i < 64; i++) WriteRandomDescriptor(driver, random, IndirectArea, i, 64);

        int chains = random.Next(0, size + 1);
        for (int i = 0; i < chains; i++)
            driver.Publish((ushort)(random.Next(10) == 0 ? random.Next(size, size + 4) : random.Next(size)));
        if (random.Next(20) == 0) memory.WriteUInt16(FakeVirtioDriver.AvailableRing + 2, (ushort)random.Next(65536));
        if (random.Next(4) == 0) memory.WriteUInt16(FakeVirtioDriver.AvailableRing + 4 + 2UL * size, (ushort)random.Next(65536)); // used_event

        ushort published = memory.ReadUInt16(FakeVirtioDriver.AvailableRing + 2);
        driver.Notify(queue);
        if (random.Next(8) == 0) RandomTransportWrite(driver, random);
        driver.Notify(random.Next(3));     // also a queue that does not exist

        bool done = driver.WaitUsed(published, 10_000);
        if (driver.Device.IsBroken)
        {
            Assert.True((driver.Status & VirtioStatus.DeviceNeedsReset) != 0, $"{where}: broken without NEEDS_RESET");
            Assert.True(driver.Log.Count == logBefore + 1, $"{where}: {driver.Log.Count - logBefore} log lines for one broken device");
            return true;
        }
        // A random transport write may have reset the device or moved things; only a live device owes completions.
        if (!driver.Device.IsLive) return false;
        Assert.True(done, $"{where}: used index {driver.UsedIndex}, {published} made available, device not broken");
        for (int slot = 0; slot < published; slot++)
            Assert.True(driver.UsedElement(slot).Id < size, $"{where}: used element {slot} names descriptor {driver.UsedElement(slot).Id}");
        return false;
    }

    private static void WriteRandomDescriptor(FakeVirtioDriver driver, Random random, ulong table, ushort index, ushort tableSize)
    {
        ulong address = random.Next(10) switch
        {
            < 6 => DataStart + (ulong)random.Next(0, (int)DataLength),
            6 => IndirectArea + 16UL * (ulong)random.Next(0, 64),
            7 => (ulong)random.NextInt64(),
            8 => FakeVirtioDriver.RamSize - (ulong)random.Next(0, 64),
            _ => (ulong)random.Next(0, 0x40000),          // the rings themselves
        };
        uint length = (uint)PickOne(random, 0, 1, 16, 17, 512, 1024, 4096, 16 * random.Next(1, 8), random.Next(0, 0x10000), unchecked((int)0xFFFF_FFFF), int.MaxValue);
        if (address >= DataStart && address < DataStart + DataLength && random.Next(2) == 0)
            length = (uint)Math.Min(length, DataStart + DataLength - address);
        ushort flags = (ushort)random.Next(0, 8);
        if (random.Next(3) == 0) flags &= unchecked((ushort)~Virtqueue.DescriptorIndirect);
        ushort next = (ushort)(random.Next(8) == 0 ? random.Next(65536) : random.Next(tableSize));
        driver.WriteDescriptor(table, index, address, length, flags, next);
    }

    private static void RandomTransportWrite(FakeVirtioDriver driver, Random random)
    {
        switch (random.Next(3))
        {
            case 0:
                int size = PickOne(random, 1, 2, 4, 8);
                driver.WriteCommon(random.Next(0, VirtioPciDevice.CommonConfigLength) & ~(size - 1), size, (ulong)random.NextInt64());
                break;
            case 1:
                // Capabilities and MSI-X control, not the header (BARs and command stay where the test driver expects them).
                int offset = random.Next(0x40, PciConfigSpace.Size) & ~3;
                driver.Device.WriteConfig(offset, 4, (uint)random.Next());
                break;
            default:
                driver.WriteBar(driver.Bar1 + (ulong)(random.Next(0, 0x1000) & ~3), 4, (uint)random.Next());
                break;
        }
    }

    private static int PickOne(Random random, params int[] choices) => choices[random.Next(choices.Length)];
    private static long PickOne(Random random, params long[] choices) => choices[random.Next(choices.Length)];
}
