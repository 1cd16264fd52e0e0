namespace Sharpvisor.Vmm.Migration;

/// <summary>
/// The migration stream over TCP, little-endian throughout. The source opens with a 16-byte header:
/// <c>magic "SVMIGRT\n" (8) | version (u32) | flags (u32, 0)</c>, then sends sections in this order: one Config,
/// Pages sections (round after round), at most one Sync before it pauses the VM (the destination answers Synced once
/// it has applied every page so far), one State, one End; the destination answers with one Ack or Error section.
/// Version 2 added Sync and Synced; version 3 checks sections with CRC-32C instead of SHA-256 (a third of the cost on
/// each side of a stream of hundreds of MiB); version 4 carries device records as snapshot format 2 does.
/// A section is <c>type (u8) | 3 zero bytes | payload length (u32) | payload | CRC-32C of the 8 header bytes and the
/// payload (u32)</c>. A Pages payload is <c>round (u32) | entry count (u32) | entries</c>, an entry being a u64
/// guest-physical page number with <see cref="ZeroPageFlag"/> set for a page that is all zero (no data follows),
/// else followed by the page's 4096 bytes. A page may come in several rounds; the last one wins.
/// </summary>
public static class MigrationFormat
{
    public const int CurrentVersion = 4;
    public const int HeaderSize = 16;
    public const int SectionHeaderSize = 8;
    public const int ChecksumSize = 4;
    public const int PageSize = 4096;
    /// <summary>Pages per Pages section: 1 MiB of data at most, so a section is checked before much is written.</summary>
    public const int PagesPerSection = 256;
    /// <summary>No section is longer; a larger length is a damaged stream, refused before anything is allocated.</summary>
    public const int MaxPayload = 16 << 20;
    public const ulong ZeroPageFlag = 1UL << 63;
    public static ReadOnlySpan<byte> Magic => "SVMIGRT\n"u8;
}
