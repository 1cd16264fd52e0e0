using System.Runtime.InteropServices;
using Iced.Intel;
using Sharpvisor.Coverage.Elf;

namespace Sharpvisor.Coverage.Census;

/// <summary>
/// Counts the instruction forms in machine code: decodes every byte range linearly with Iced's 64-bit decoder and
/// tallies each decoded instruction by its <see cref="Code"/>. Where the bytes do not decode (kernel text holds
/// jump tables, padding and other data in places), the position is counted as an invalid decode and the decoder
/// resumes one byte later. A linear sweep can also misread data as valid instructions; that noise is part of the
/// static count, which is why forms are ranked by frequency.
/// </summary>
public sealed class InstructionCensus
{
    private static readonly int CodeCount = Enum.GetValues<Code>().Max(c => (int)c) + 1;

    private readonly long[] _counts = new long[CodeCount];

    public InstructionCensus(string name) => Name = name;

    /// <summary>What was scanned, e.g. a file name.</summary>
    public string Name { get; }

    public int RegionCount { get; private set; }

    public long BytesScanned { get; private set; }

    /// <summary>Instructions decoded successfully.</summary>
    public long Instructions { get; private set; }

    /// <summary>Byte positions where no instruction decoded (each skipped by one byte).</summary>
    public long InvalidDecodes { get; private set; }

    /// <summary>A census of all executable regions of an ELF file.</summary>
    public static InstructionCensus OfElf(string name, ElfFile elf)
    {
        var census = new InstructionCensus(name);
        foreach (var region in elf.ExecutableRegions()) census.Add(region);
        return census;
    }

    public void Add(CodeRegion region)
    {
        RegionCount++;
        BytesScanned += region.Bytes.Length;
        if (region.Bytes.IsEmpty) return;
        ArraySegment<byte> bytes = MemoryMarshal.TryGetArray(region.Bytes, out var segment) ? segment : region.Bytes.ToArray();
        var reader = new ByteArrayCodeReader(bytes.Array!, bytes.Offset, bytes.Count);
        var decoder = Decoder.Create(64, reader, region.Address);
        while (reader.CanReadByte)
        {
            int position = reader.Position;
            decoder.Decode(out Instruction instruction);
            if (instruction.Code == Code.INVALID)
            {
                InvalidDecodes++;
                reader.Position = position + 1;
                decoder.IP = region.Address + (ulong)(position + 1); // Position counts from the region's start
                continue;
            }
            Instructions++;
            _counts[(int)instruction.Code]++;
        }
    }

    /// <summary>Adds another census's counts to this one (for totals over several files).</summary>
    public void Add(InstructionCensus other)
    {
        RegionCount += other.RegionCount;
        BytesScanned += other.BytesScanned;
        Instructions += other.Instructions;
        InvalidDecodes += other.InvalidDecodes;
        for (int i = 0; i < _counts.Length; i++) _counts[i] += other._counts[i];
    }

    public long CountOf(Code code) => _counts[(int)code];

    /// <summary>Every form seen at least once, most frequent first (ties in Code order).</summary>
    public IReadOnlyList<InstructionForm> Forms()
    {
        var forms = new List<InstructionForm>();
        for (int i = 0; i < _counts.Length; i++)
        {
            if (_counts[i] != 0) forms.Add(new InstructionForm((Code)i, _counts[i]));
        }
        forms.Sort((a, b) => a.Count != b.Count ? b.Count.CompareTo(a.Count) : a.Code.CompareTo(b.Code));
        return forms;
    }

    public int DistinctForms => _counts.Count(c => c != 0);

    /// <summary>
    /// The forms split by whether a CPU advertising <paramref name="advertised"/> can run them. A form that such a
    /// CPU runs as an older form (<see cref="CpuidFeatureSets.Fallbacks"/>, e.g. TZCNT as BSF) is counted under
    /// that older form among the reachable ones and listed in <see cref="FeatureFilterResult.RunAsFallback"/>.
    /// </summary>
    public FeatureFilterResult Filter(IReadOnlySet<CpuidFeature> advertised)
    {
        var reachableCounts = new Dictionary<Code, long>();
        var excluded = new List<InstructionForm>();
        var runAsFallback = new List<InstructionForm>();
        foreach (var form in Forms())
        {
            Code? fallback = CpuidFeatureSets.FallbackUnder(form.Code, advertised);
            if (fallback is Code older)
            {
                runAsFallback.Add(form);
                reachableCounts[older] = reachableCounts.GetValueOrDefault(older) + form.Count;
            }
            else if (CpuidFeatureSets.IsReachable(form.Code, advertised))
            {
                reachableCounts[form.Code] = reachableCounts.GetValueOrDefault(form.Code) + form.Count;
            }
            else
            {
                excluded.Add(form);
            }
        }
        var reachable = reachableCounts.Select(pair => new InstructionForm(pair.Key, pair.Value)).ToList();
        reachable.Sort((a, b) => a.Count != b.Count ? b.Count.CompareTo(a.Count) : a.Code.CompareTo(b.Code));
        return new FeatureFilterResult(reachable, excluded, runAsFallback);
    }
}
