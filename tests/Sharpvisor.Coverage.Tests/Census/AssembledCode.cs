using Iced.Intel;
using Sharpvisor.Coverage.Elf;

namespace Sharpvisor.Coverage.Tests.Census;

/// <summary>Machine code made with Iced's assembler, as a code region.</summary>
internal static class AssembledCode
{
    internal const ulong Address = 0x401000;

    internal static byte[] Bytes(Action<Assembler> emit)
    {
        var assembler = new Assembler(64);
        emit(assembler);
        var stream = new MemoryStream();
        assembler.Assemble(new StreamCodeWriter(stream), Address);
        return stream.ToArray();
    }

    internal static CodeRegion Region(Action<Assembler> emit) => new(".text", Address, Bytes(emit));
}
