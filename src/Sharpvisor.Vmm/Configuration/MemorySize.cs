using System.Globalization;

namespace Sharpvisor.Vmm.Configuration;

/// <summary>Parses and prints memory sizes the way QEMU's -m does: a number with an optional K, M, G or T suffix (M by default).</summary>
public static class MemorySize
{
    public static ulong Parse(string text)
    {
        if (string.IsNullOrWhiteSpace(text)) throw new FormatException("empty memory size");
        text = text.Trim();
        char last = char.ToUpperInvariant(text[^1]);
        if (last == 'B' && text.Length > 1) { text = text[..^1]; last = char.ToUpperInvariant(text[^1]); }
        int shift = last switch { 'K' => 10, 'M' => 20, 'G' => 30, 'T' => 40, _ => -1 };
        string number = shift >= 0 ? text[..^1] : text;
        if (shift < 0) shift = 20;
        if (!ulong.TryParse(number, NumberStyles.None, CultureInfo.InvariantCulture, out ulong value) || value == 0)
            throw new FormatException($"'{text}' is not a memory size (examples: 512M, 2G)");
        if (value > (ulong.MaxValue >> shift)) throw new FormatException($"'{text}' is too large");
        return value << shift;
    }

    public static string Format(ulong bytes) =>
        bytes % (1UL << 30) == 0 ? $"{bytes >> 30} GiB" : bytes % (1UL << 20) == 0 ? $"{bytes >> 20} MiB" : $"{bytes / 1024} KiB";
}
