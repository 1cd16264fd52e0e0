namespace Sharpvisor.Coverage.Elf;

/// <summary>Bytes of machine code and the address the first of them is loaded at.</summary>
/// <param name="Name">Where it came from: a section name or "PT_LOAD[i]".</param>
/// <param name="Address">The load address of <see cref="Bytes"/>[0].</param>
/// <param name="Bytes">The code as stored in the file.</param>
public sealed record CodeRegion(string Name, ulong Address, ReadOnlyMemory<byte> Bytes);
