namespace Sharpvisor.Machine.Devices.Input;

/// <summary>
/// A key's make code in each PS/2 scan code set: set 1 (what the i8042 hands the host when it translates), set 2 (what
/// a keyboard sends by default) and set 3; <see cref="Extended"/> keys carry the E0 prefix in sets 1 and 2.
/// </summary>
public readonly record struct Ps2Key(byte Set1, byte Set2, byte Set3, bool Extended)
{
    public static readonly Ps2Key LeftControl = new(0x1D, 0x14, 0x11, false);
    public static readonly Ps2Key LeftAlt = new(0x38, 0x11, 0x19, false);
    public static readonly Ps2Key Delete = new(0x53, 0x71, 0x64, true);

    public const byte ExtendedPrefix = 0xE0, BreakPrefix = 0xF0, Set1BreakBit = 0x80;

    /// <summary>Writes the bytes of pressing (or releasing) the key in <paramref name="scanCodeSet"/>; returns how many.</summary>
    public int Encode(int scanCodeSet, bool release, Span<byte> bytes)
    {
        int n = 0;
        switch (scanCodeSet)
        {
            case 1:
                if (Extended) bytes[n++] = ExtendedPrefix;
                bytes[n++] = release ? (byte)(Set1 | Set1BreakBit) : Set1;
                break;
            case 2:
                if (Extended) bytes[n++] = ExtendedPrefix;
                if (release) bytes[n++] = BreakPrefix;
                bytes[n++] = Set2;
                break;
            case 3:
                if (release) bytes[n++] = BreakPrefix;
                bytes[n++] = Set3;
                break;
            default:
                throw new ArgumentOutOfRangeException(nameof(scanCodeSet), $"scan code set {scanCodeSet} is not 1, 2 or 3");
        }
        return n;
    }
}
