using System.Runtime.CompilerServices;

namespace Sharpvisor.Engines.Emulator.Execution;

/// <summary>RAX..R15 by number (0 = RAX, 4 = RSP, 15 = R15), inline in the core so a register access is one load.</summary>
[InlineArray(16)]
public struct GeneralRegisterFile
{
    private ulong _element0;
}

/// <summary>One XMM register as two little-endian halves.</summary>
public struct XmmRegister
{
    public ulong Low, High;
}

/// <summary>XMM0..XMM15.</summary>
[InlineArray(16)]
public struct XmmRegisterFile
{
    private XmmRegister _element0;
}
