namespace Sharpvisor.Oracle;

/// <summary>
/// One differential test case: a single x86-64 instruction and the complete architectural input it runs from.
/// Memory operands live in a <see cref="WindowSize"/>-byte window whose address is chosen by the runner; inside
/// a case the window sits at <see cref="CanonicalWindowBase"/>, and every register whose bit is set in
/// <see cref="PointerRegisters"/> holds <c>CanonicalWindowBase + offset</c>. A runner that places the window
/// elsewhere adds the difference to those registers before the instruction and subtracts it afterwards, so
/// outcomes compare equal whatever address the window really had (an emulator simply maps the window at the
/// canonical address). A register that receives a copy of a pointer (lea, mov) is recognised by its value,
/// within a page of the real window, and moved back too; a pointer stored into memory is not rewritten. Arrays are compared by reference by the record's equality; use
/// <see cref="InstructionOutcome.DescribeDifferences"/> to compare outcomes by content.
/// </summary>
public sealed record InstructionCase
{
    public const int CurrentVersion = 1;

    /// <summary>Two pages: the private stack (RSP starts at offset <see cref="DefaultStackOffset"/>) and data.</summary>
    public const int WindowSize = 8192;
    public const ulong CanonicalWindowBase = 0x0000_7000_0000_0000;
    /// <summary>Where the generator points RSP: the boundary of the two pages, so pushes and pops stay inside.</summary>
    public const int DefaultStackOffset = 0x1000;
    public const int GprCount = 16;
    public const int XmmCount = 16;
    public const int XmmBytes = XmmCount * 16;
    public const int MaxInstructionLength = 15;

    /// <summary>CF PF AF ZF SF DF OF: the only RFLAGS bits a case may set; the runner ignores the others.</summary>
    public const ulong InputFlagsMask = 0x0CD5;
    /// <summary>RFLAGS bit 1 reads as one.</summary>
    public const ulong FlagsFixedBits = 0x2;
    public const uint DefaultMxcsr = 0x1F80;
    /// <summary>Bytes 0..159 of an FXSAVE image: the x87 header (FCW FSW FTW FOP FIP FDP) and ST0..ST7; bytes 24..31 (MXCSR) are unused.</summary>
    public const int X87StateBytes = 160;
    /// <summary>FNINIT's control word, the default x87 state's.</summary>
    public const ushort DefaultFpuControlWord = 0x37F;

    public int Version { get; init; } = CurrentVersion;

    /// <summary>The encoded instruction (exactly one, 1..15 bytes, 64-bit mode). It runs at an address chosen by the runner, so RIP-relative operands are not meaningful.</summary>
    public required byte[] Code { get; init; }

    /// <summary>Sixteen 64-bit registers indexed by hardware number: RAX RCX RDX RBX RSP RBP RSI RDI R8..R15.</summary>
    public required ulong[] Gprs { get; init; }

    /// <summary>Input RFLAGS; only <see cref="InputFlagsMask"/> bits are used.</summary>
    public ulong Rflags { get; init; } = FlagsFixedBits;

    /// <summary>XMM0..XMM15, 16 bytes each, little-endian (<see cref="XmmBytes"/> bytes).</summary>
    public required byte[] Xmm { get; init; }

    public uint Mxcsr { get; init; } = DefaultMxcsr;

    /// <summary>The memory window's initial contents (<see cref="WindowSize"/> bytes).</summary>
    public required byte[] Memory { get; init; }

    /// <summary>
    /// The x87 state the instruction starts from, in FXSAVE64 layout (<see cref="X87StateBytes"/> bytes: FCW at 0,
    /// FSW at 2, abridged FTW at 4, FOP at 6, FIP at 8, FDP at 16, ST0..ST7 at 32 + 16 i). Defaults to FNINIT's state.
    /// </summary>
    public byte[] X87State { get; init; } = DefaultX87State();

    /// <summary>Bit n set: register n holds an address in canonical window space and is relocated by the runner.</summary>
    public ushort PointerRegisters { get; init; }

    /// <summary>A case with zeroed registers, default MXCSR, a zeroed window and RSP at the private stack.</summary>
    public static InstructionCase Create(byte[] code)
    {
        var gprs = new ulong[GprCount];
        gprs[GprIndex.Rsp] = CanonicalWindowBase + DefaultStackOffset;
        return new InstructionCase
        {
            Code = code,
            Gprs = gprs,
            Xmm = new byte[XmmBytes],
            Memory = new byte[WindowSize],
            PointerRegisters = 1 << GprIndex.Rsp,
        };
    }

    /// <summary>Throws <see cref="ArgumentException"/> when an array has the wrong length or the version is unknown.</summary>
    public void Validate()
    {
        if (Version != CurrentVersion) throw new ArgumentException($"Unsupported case version {Version}.");
        if (Code is null || Code.Length is < 1 or > MaxInstructionLength) throw new ArgumentException("Code must hold 1..15 bytes.");
        if (Gprs is null || Gprs.Length != GprCount) throw new ArgumentException("Gprs must hold 16 registers.");
        if (Xmm is null || Xmm.Length != XmmBytes) throw new ArgumentException("Xmm must hold 256 bytes.");
        if (Memory is null || Memory.Length != WindowSize) throw new ArgumentException($"Memory must hold {WindowSize} bytes.");
        if (X87State is null || X87State.Length != X87StateBytes) throw new ArgumentException($"X87State must hold {X87StateBytes} bytes.");
    }

    public UInt128 GetXmm(int index) => GprIndex.ReadXmm(Xmm, index);

    /// <summary>An x87 image in the state FNINIT leaves: FCW 037Fh, everything else zero (all registers empty).</summary>
    public static byte[] DefaultX87State()
    {
        var state = new byte[X87StateBytes];
        state[0] = DefaultFpuControlWord & 0xFF;
        state[1] = DefaultFpuControlWord >> 8;
        return state;
    }
}
