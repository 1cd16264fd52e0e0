namespace Sharpvisor.Machine.Cpu;

/// <summary>
/// The x87 and SSE state as FXSAVE lays it out. <see cref="XsaveArea"/>, when present, is the full XSAVE image
/// (legacy area, header and extended components) and supersedes the fields here for engines that use it.
/// </summary>
public sealed record FpuState
{
    public ushort ControlWord { get; init; } = 0x37F;
    public ushort StatusWord { get; init; }
    /// <summary>The abridged tag word FXSAVE stores (one bit per register, 1 = valid).</summary>
    public byte AbridgedTagWord { get; init; }
    public ushort LastOpcode { get; init; }
    public ulong LastInstructionPointer { get; init; }
    public ulong LastDataPointer { get; init; }
    public uint Mxcsr { get; init; } = 0x1F80;
    /// <summary>ST0..ST7 (MM0..MM7), 16 bytes each of which 10 are used: 128 bytes.</summary>
    public byte[] X87Registers { get; init; } = new byte[128];
    /// <summary>XMM0..XMM15, 16 bytes each: 256 bytes.</summary>
    public byte[] XmmRegisters { get; init; } = new byte[256];
    /// <summary>XCR0, the enabled XSAVE feature set (x87 | SSE at the least).</summary>
    public ulong Xcr0 { get; init; } = 0x3;
    public byte[]? XsaveArea { get; init; }
}
