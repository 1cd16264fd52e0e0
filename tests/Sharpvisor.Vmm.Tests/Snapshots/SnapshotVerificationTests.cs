using System.Buffers.Binary;
using System.Text.Json;
using System.Text.Json.Nodes;
using Sharpvisor.Machine.Devices.Serial;
using Sharpvisor.Vmm.Lifecycle;
using Sharpvisor.Vmm.Snapshots;
using Sharpvisor.Vmm.Tests.Lifecycle;

namespace Sharpvisor.Vmm.Tests.Snapshots;

/// <summary>A real snapshot of the counter guest, damaged in each way a file can be; loading must refuse and say why.</summary>
public sealed class SnapshotVerificationTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("sharpvisor-snapshot-").FullName;
    private readonly SnapshotManifest _manifest;

    public SnapshotVerificationTests()
    {
        using var run = new CounterRun(TestEngines.Create("emulator"), spin: TestEngines.Spin("emulator"));
        run.WaitForTick(70);
        _manifest = run.Vm.SaveSnapshot(_directory, stopAfter: true).Manifest;
        run.Finish(TimeSpan.FromSeconds(30));
    }

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    private string StatePath => Path.Combine(_directory, SnapshotFormat.StateFileName);
    private string MemoryPath => Path.Combine(_directory, _manifest.Memory.FileName);

    private string Refusal() => Assert.Throws<SnapshotException>(() => SnapshotStore.Load(_directory)).Message;

    [SkippableFact]
    public void An_intact_snapshot_loads_and_holds_only_touched_pages()
    {
        var loaded = SnapshotStore.Load(_directory);
        Assert.Equal(_manifest.Memory.Sha256, loaded.Manifest.Memory.Sha256);
        // The guest's image, page tables, stack and 64 buffer pages: well under 1 MiB of a 64 MiB guest.
        Assert.InRange(loaded.Manifest.Memory.StoredPages, 64UL, 256UL);
        Assert.Equal(64UL << 20, loaded.Manifest.Memory.FileSize);
        Assert.Contains(loaded.Manifest.Devices, d => d.Kind == "uart16550" && d.Key == "com1");
        Assert.Contains(loaded.Manifest.Devices, d => d.Kind == "i8042" && d.Key == "i8042");
        Assert.Contains(loaded.Manifest.Devices, d => d.Kind == "ioapic" && d.Version == 1);
        Assert.Contains(loaded.Manifest.Devices, d => d.Kind == "cmos-rtc");
    }

    [SkippableFact]
    public void The_memory_checksum_is_the_documented_SHA256_of_the_stored_pages()
    {
        // Recomputed from its definition, so snapshots written by earlier builds keep verifying: each stored page, in
        // file order, as its region slot (32-bit), its page number (64-bit), little-endian, then its 4096 bytes.
        using var sha = System.Security.Cryptography.IncrementalHash.CreateHash(System.Security.Cryptography.HashAlgorithmName.SHA256);
        var file = File.ReadAllBytes(MemoryPath);
        var header = new byte[12];
        foreach (var region in _manifest.Memory.Regions)
            for (int i = 0; i + 1 < region.Runs.Length; i += 2)
                for (ulong page = region.Runs[i]; page < region.Runs[i] + region.Runs[i + 1]; page++)
                {
                    BinaryPrimitives.WriteInt32LittleEndian(header, region.Slot);
                    BinaryPrimitives.WriteUInt64LittleEndian(header.AsSpan(4), page);
                    sha.AppendData(header);
                    sha.AppendData(file, (int)(region.FileOffset + page * 4096), 4096);
                }
        Assert.Equal(Convert.ToHexStringLower(sha.GetHashAndReset()), _manifest.Memory.Sha256);
    }

    [SkippableFact]
    public void A_flipped_bit_in_the_state_is_corrupt()
    {
        byte[] file = File.ReadAllBytes(StatePath);
        file[SnapshotFormat.HeaderSize + file.Length / 2 - SnapshotFormat.HeaderSize / 2] ^= 0x04;
        File.WriteAllBytes(StatePath, file);
        Assert.Contains("is corrupt: its SHA-256 does not match", Refusal());
    }

    [SkippableFact]
    public void A_truncated_state_file_is_refused_as_truncated()
    {
        byte[] file = File.ReadAllBytes(StatePath);
        File.WriteAllBytes(StatePath, file[..(file.Length - 100)]);
        Assert.Contains("is truncated", Refusal());
        File.WriteAllBytes(StatePath, file[..20]);
        Assert.Contains("is truncated", Refusal());
        File.WriteAllBytes(StatePath, []);
        Assert.Contains("is empty", Refusal());
    }

    [SkippableTheory]
    [InlineData(1)] // folders written before device records had keys and versions of their own
    [InlineData(99)]
    public void Another_format_version_is_refused_by_number(int version)
    {
        byte[] file = File.ReadAllBytes(StatePath);
        BinaryPrimitives.WriteInt32LittleEndian(file.AsSpan(8), version);
        File.WriteAllBytes(StatePath, file);
        Assert.Contains($"is snapshot format version {version}; this build reads version {SnapshotFormat.CurrentVersion}", Refusal());
    }

    [SkippableFact]
    public void Not_a_snapshot_and_no_snapshot_are_told_apart()
    {
        File.WriteAllText(StatePath, "{\"hello\": 1}");
        Assert.Contains("is not a Sharpvisor snapshot", Refusal());
        File.Delete(StatePath);
        Assert.Contains("holds no snapshot", Refusal());
    }

    [SkippableFact]
    public void A_cpu_record_of_another_version_is_refused()
    {
        var bumped = _manifest with { Vcpus = [_manifest.Vcpus[0] with { Version = 7 }] };
        File.WriteAllBytes(StatePath, SnapshotStore.Encode(bumped));
        Assert.Contains("vCPU 0 is a version 7 CPU record; this build reads version 1", Refusal());
    }

    [SkippableFact]
    public void A_device_record_this_build_cannot_read_stops_the_restore_naming_member_and_device()
    {
        var uart = _manifest.Devices.Single(d => d.Kind == "uart16550");
        var record = JsonNode.Parse(uart.State.GetRawText())!.AsObject();
        record["ParityError"] = true;
        var changed = uart with { State = JsonSerializer.SerializeToElement(record) };
        File.WriteAllBytes(StatePath, SnapshotStore.Encode(_manifest with
        {
            Devices = _manifest.Devices.Select(d => ReferenceEquals(d, uart) ? changed : d).ToArray(),
        }));
        using var run = new CounterRun(TestEngines.Create("emulator"), restore: SnapshotStore.Load(_directory));
        var result = run.Finish(TimeSpan.FromSeconds(30));
        Assert.Equal(VmOutcome.VmmError, result.Outcome);
        Assert.Contains("the uart16550 state of com1 does not match this build's record", result.Message);
        Assert.Contains("ParityError", result.Message);
    }

    [SkippableFact]
    public void A_restore_reads_devices_through_the_vms_own_registry()
    {
        var uartOnly = new DeviceStateRegistry().Register<Uart16550, Uart16550State>("uart16550");
        using var run = new CounterRun(TestEngines.Create("emulator"), restore: SnapshotStore.Load(_directory), deviceStates: uartOnly);
        var result = run.Finish(TimeSpan.FromSeconds(30));
        Assert.Equal(VmOutcome.VmmError, result.Outcome);
        Assert.Contains("a device of kind 'cmos-rtc' (cmos-rtc) that this build does not know", result.Message);
    }

    [SkippableFact]
    public void A_truncated_memory_file_is_refused()
    {
        using (var f = new FileStream(MemoryPath, FileMode.Open)) f.SetLength(f.Length - 4096);
        Assert.Contains("memory file", Refusal());
        Assert.Contains("truncated", Refusal());
    }

    [SkippableFact]
    public void A_changed_page_in_the_memory_file_is_corrupt_and_a_missing_file_is_named()
    {
        var region = _manifest.Memory.Regions[0];
        long offset = (long)(region.FileOffset + region.Runs[0] * 4096) + 100;
        using (var f = new FileStream(MemoryPath, FileMode.Open))
        {
            f.Position = offset;
            int b = f.ReadByte();
            f.Position = offset;
            f.WriteByte((byte)(b ^ 1));
        }
        Assert.Contains("is corrupt: its pages do not match", Refusal());
        // Without content verification the damage goes unseen (the lazy path): the size is still checked.
        SnapshotStore.Load(_directory, verifyMemory: false);
        File.Delete(MemoryPath);
        Assert.Contains($"{_manifest.Memory.FileName} is missing", Refusal());
    }
}
