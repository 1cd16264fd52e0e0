using System.Buffers.Binary;

namespace Sharpvisor.TestGuests.Guests;

/// <summary>
/// The disk the virtio guest expects and what it leaves there: a raw image of <see cref="Bytes"/> (zeros are fine),
/// on which the guest writes a fixed pattern to sector <see cref="PatternSector"/>, so a harness can check the file
/// afterwards with <see cref="ExpectedPatternSector"/>.
/// </summary>
public static class VirtioGuestDisk
{
    /// <summary>Size of the disk image harnesses give the guest: 1 MiB, 2048 sectors.</summary>
    public const int Bytes = 1 << 20;
    public const int SectorSize = 512;
    public const ulong PatternSector = 1;

    /// <summary>Qword i of the sector is <see cref="PatternSeed"/> + i * <see cref="PatternStep"/> (wrapping).</summary>
    public const ulong PatternSeed = 0x7669_7274_696F_2D62;   // "b-oitriv": "virtio-b" read backwards
    public const ulong PatternStep = 0x9E37_79B9_7F4A_7C15;

    /// <summary>The 512 bytes the guest writes to <see cref="PatternSector"/>.</summary>
    public static byte[] ExpectedPatternSector()
    {
        var sector = new byte[SectorSize];
        ulong value = PatternSeed;
        for (int i = 0; i < SectorSize / 8; i++, value += PatternStep)
            BinaryPrimitives.WriteUInt64LittleEndian(sector.AsSpan(i * 8), value);
        return sector;
    }
}
