using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sharpvisor.Vmm.Snapshots;

/// <summary>
/// The snapshot folder: <see cref="StateFileName"/> and one memory file it names. The state file is
/// <c>magic (8) | format version (u32) | flags (u32, 0) | payload length (u64) | SHA-256 of the payload (32) | payload</c>,
/// little-endian, the payload being the <see cref="SnapshotManifest"/> as UTF-8 JSON. The memory file is written and
/// made durable first, under a name of its own, and the state file is renamed into place last: a crash leaves the
/// old snapshot or the new one, never a mix.
/// Version 2 keys device records by the key each device names itself and stores each record's version beside it
/// (<see cref="DeviceStateEntry"/>), read strictly. Version 3 holds the writable disks as they were
/// (<see cref="SnapshotDisk"/>); older folders are refused by number, as restoring one would pair memory with disks
/// written since.
/// </summary>
public static class SnapshotFormat
{
    public const int CurrentVersion = 3;
    public const string StateFileName = "vm.state";
    public const int HeaderSize = 8 + 4 + 4 + 8 + 32;
    public static ReadOnlySpan<byte> Magic => "SVSNAP\r\n"u8;

    public static readonly JsonSerializerOptions Json = new()
    {
        WriteIndented = false,
        Converters = { new JsonStringEnumConverter() },
    };
}
