using System.Buffers.Binary;
using System.Security.Cryptography;
using System.Text.Json;
using Sharpvisor.Machine.Cpu;
using Sharpvisor.Machine.Memory;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Images;

namespace Sharpvisor.Vmm.Snapshots;

/// <summary>
/// Writes a snapshot folder atomically and reads one back, refusing anything corrupt, truncated or of another format
/// version with a <see cref="SnapshotException"/> that says which (the layout is in <see cref="SnapshotFormat"/>).
/// </summary>
public static class SnapshotStore
{
    /// <summary>
    /// Writes guest RAM and then <paramref name="manifest"/> (its <see cref="SnapshotManifest.Memory"/> is filled in
    /// here) into <paramref name="directory"/>, replacing any snapshot there only once the new one is complete.
    /// Memory of an older snapshot that this one no longer names is deleted afterwards. Paths into the VM's folder are
    /// stored relative to it (<see cref="VmFolderPaths"/>).
    /// </summary>
    public static SnapshotManifest Save(string directory, SnapshotManifest manifest, GuestMemory memory,
        IReadOnlyDictionary<int, ulong[]>? alreadyMapped = null)
    {
        Directory.CreateDirectory(directory);
        string memoryName = $"memory-{Guid.NewGuid():N}.bin"; // a new name each time: the old snapshot stays whole until the commit
        string memoryPath = Path.Combine(directory, memoryName);
        string temporary = AtomicFile.TemporaryNameFor(memoryPath);
        try
        {
            var image = GuestMemoryImage.Write(memory, temporary, memoryName, alreadyMapped);
            AtomicFile.Commit(temporary, memoryPath);
            manifest = manifest with { Memory = image, FormatVersion = SnapshotFormat.CurrentVersion };
            var stored = manifest with
            {
                Config = VmFolderPaths.ToStored(manifest.Config, directory),
                Disks = manifest.Disks.Select(d => d with { Top = VmFolderPaths.ToStored(d.Top, directory) }).ToArray(),
            };
            AtomicFile.WriteAllBytes(Path.Combine(directory, SnapshotFormat.StateFileName), Encode(stored));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            File.Delete(memoryPath);
            throw new SnapshotException($"cannot write the snapshot into {directory}: {e.Message}", e);
        }
        finally
        {
            File.Delete(temporary);
        }
        foreach (var old in Directory.EnumerateFiles(directory, "memory-*.bin"))
            if (Path.GetFileName(old) != memoryName) File.Delete(old);
        return manifest;
    }

    /// <summary>
    /// Reads and checks the snapshot in <paramref name="directory"/>: the state file's header, length and checksum,
    /// its format version and the versions of the CPU records, then the memory file's size and (when
    /// <paramref name="verifyMemory"/>) the checksum of its pages.
    /// </summary>
    public static LoadedSnapshot Load(string directory, bool verifyMemory = true)
    {
        string statePath = Path.Combine(directory, SnapshotFormat.StateFileName);
        if (!File.Exists(statePath)) throw new SnapshotException($"{directory} holds no snapshot ({SnapshotFormat.StateFileName} is missing)");
        return LoadFiles(statePath, directory, memoryPath: null, verifyMemory);
    }

    /// <summary>
    /// <see cref="Load"/> for a state file and a memory file that were moved out of their folder (a Firecracker-style
    /// snapshot_path + mem_file_path pair): relative paths in the state resolve against <paramref name="directory"/>,
    /// and the memory comes from <paramref name="memoryPath"/> instead of the file the state names.
    /// </summary>
    public static LoadedSnapshot LoadFiles(string statePath, string directory, string? memoryPath, bool verifyMemory = true)
    {
        if (!File.Exists(statePath)) throw new SnapshotException($"{statePath} does not exist");
        byte[] file = File.ReadAllBytes(statePath);
        var manifest = Decode(file, statePath);
        manifest = manifest with
        {
            Config = VmFolderPaths.FromStored(manifest.Config, directory),
            Disks = manifest.Disks.Select(d => d with { Top = VmFolderPaths.FromStored(d.Top, directory) }).ToArray(),
        };
        SnapshotDiskRecords.Check(manifest, statePath);
        if (manifest.Config.Version > VmConfig.CurrentVersion)
            throw new SnapshotException($"{statePath}: the VM's configuration is version {manifest.Config.Version}; this build reads up to version {VmConfig.CurrentVersion}");
        // Version 1 predates Ksm, and its absence (off) is what it meant: the VM goes on with this build's version.
        manifest = manifest with { Config = manifest.Config with { Version = VmConfig.CurrentVersion } };
        foreach (var (cpu, i) in manifest.Vcpus.Select((c, i) => (c, i)))
            if (cpu.Version != CpuState.CurrentVersion)
                throw new SnapshotException($"{statePath}: vCPU {i} is a version {cpu.Version} CPU record; this build reads version {CpuState.CurrentVersion}");
        if (manifest.Vcpus.Length != manifest.Config.Topology.VcpuCount)
            throw new SnapshotException($"{statePath}: {manifest.Vcpus.Length} vCPU records for a {manifest.Config.Topology.VcpuCount}-vCPU configuration");
        if (memoryPath is not null) manifest = manifest with { Memory = manifest.Memory with { FileName = Path.GetFullPath(memoryPath) } };
        var loaded = new LoadedSnapshot(directory, manifest);
        GuestMemoryImage.Verify(loaded.MemoryPath, manifest.Memory, verifyMemory);
        return loaded;
    }

    public static byte[] Encode(SnapshotManifest manifest)
    {
        byte[] payload = JsonSerializer.SerializeToUtf8Bytes(manifest, SnapshotFormat.Json);
        var file = new byte[SnapshotFormat.HeaderSize + payload.Length];
        SnapshotFormat.Magic.CopyTo(file);
        BinaryPrimitives.WriteInt32LittleEndian(file.AsSpan(8), SnapshotFormat.CurrentVersion);
        BinaryPrimitives.WriteUInt32LittleEndian(file.AsSpan(12), 0);
        BinaryPrimitives.WriteUInt64LittleEndian(file.AsSpan(16), (ulong)payload.Length);
        SHA256.HashData(payload, file.AsSpan(24, 32));
        payload.CopyTo(file.AsSpan(SnapshotFormat.HeaderSize));
        return file;
    }

    public static SnapshotManifest Decode(ReadOnlySpan<byte> file, string name)
    {
        if (file.Length < SnapshotFormat.Magic.Length || !file[..SnapshotFormat.Magic.Length].SequenceEqual(SnapshotFormat.Magic))
            throw new SnapshotException(file.Length == 0 ? $"{name} is empty" : $"{name} is not a Sharpvisor snapshot (bad magic)");
        if (file.Length < SnapshotFormat.HeaderSize)
            throw new SnapshotException($"{name} is truncated: {file.Length} bytes, shorter than its {SnapshotFormat.HeaderSize}-byte header");
        int version = BinaryPrimitives.ReadInt32LittleEndian(file[8..]);
        if (version != SnapshotFormat.CurrentVersion)
            throw new SnapshotException($"{name} is snapshot format version {version}; this build reads version {SnapshotFormat.CurrentVersion}");
        ulong length = BinaryPrimitives.ReadUInt64LittleEndian(file[16..]);
        ulong actual = (ulong)(file.Length - SnapshotFormat.HeaderSize);
        if (actual < length) throw new SnapshotException($"{name} is truncated: {actual} bytes of state, the header says {length}");
        if (actual > length) throw new SnapshotException($"{name} is damaged: {actual - length} bytes after the end its header gives");
        var payload = file[SnapshotFormat.HeaderSize..];
        Span<byte> digest = stackalloc byte[32];
        SHA256.HashData(payload, digest);
        if (!digest.SequenceEqual(file.Slice(24, 32)))
            throw new SnapshotException($"{name} is corrupt: its SHA-256 does not match the one in its header");
        try
        {
            var manifest = JsonSerializer.Deserialize<SnapshotManifest>(payload, SnapshotFormat.Json)
                ?? throw new SnapshotException($"{name} holds an empty state");
            if (manifest.FormatVersion != version)
                throw new SnapshotException($"{name}: header says format {version}, the state says {manifest.FormatVersion}");
            return manifest;
        }
        catch (JsonException e)
        {
            throw new SnapshotException($"{name} cannot be read as format version {version}: {e.Message}", e);
        }
    }
}
