using Sharpvisor.Coverage.Elf;

namespace Sharpvisor.Coverage.Census;

/// <summary>One line of a census report: a name and the ELF files whose code it counts together.</summary>
public sealed record CensusInput(string Name, IReadOnlyList<ElfFile> Files)
{
    public InstructionCensus Take()
    {
        var census = new InstructionCensus(Name);
        foreach (var file in Files)
        {
            foreach (var region in file.ExecutableRegions()) census.Add(region);
        }
        return census;
    }
}
