using System.Runtime.CompilerServices;

namespace Sharpvisor.Engines.Emulator.Instructions.X87;

/// <summary>The physical x87 data registers R0..R7 (ST(i) is R[(TOP + i) mod 8]).</summary>
[InlineArray(8)]
public struct X87RegisterFile
{
    private Float80 _element0;
}
