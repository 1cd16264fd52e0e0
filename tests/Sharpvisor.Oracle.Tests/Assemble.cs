using Iced.Intel;

namespace Sharpvisor.Oracle.Tests;

/// <summary>Encodes one instruction with Iced's assembler, as the case format expects.</summary>
internal static class Assemble
{
    public static byte[] One(Action<Assembler> emit)
    {
        var assembler = new Assembler(64);
        emit(assembler);
        Assert.Single(assembler.Instructions);
        var stream = new MemoryStream();
        assembler.Assemble(new StreamCodeWriter(stream), 0);
        return stream.ToArray();
    }
}
