using System.Globalization;

namespace Sharpvisor.Vmm.Configuration;

/// <summary>
/// Parses and prints sizes as QEMU does: a number with an optional K, M, G or T suffix; a bare number is MiB for
/// memory (-m) and bytes for disks (qemu-img create), so <paramref name="bareUnitShift"/> says which.
/// </summary>
public static class MemorySize
{
    public const int Bytes = 0, MiB = 20;

    public static ulong Parse(string text, int bareUnitShift = MiB)
    {
        if (string.IsNullOrWhiteSpace(text)) throw new FormatException("empty memory size");
        text = text.Trim();
        char last = char.ToUpperInvariant(text[^1]);
        if (last == 'B' && text.Length > 1) { text = text[..^1]; last = char.ToUpperInvariant(text[^1]); }
        int shift = last switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, _ => -1 };
        string number = shift >= 0 ? text[..^1] : text;
        if (shift < 0) shift = bareUnitShift;
        if (!ulong.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out ulong value) || value == 0)
            throw new FormatException($"'{text}' is not a memory size (examples: 512M, 2G)");
        if (value > (ulong.MaxValue >> shift)) throw new FormatException($"'{text}' is too large");
        return value << shift;
    }

    public static string Format(ulong bytes) =>
        bytes % (1UL << 30) == 0 ? $"{bytes >> 30} GiB" : bytes % (1UL << 20) == 0 ? $"{bytes >> 20} MiB" : $"{bytes / 1024} KiB";
}
