namespace Sharpvisor.Oracle.Native;

/// <summary>
/// Byte offsets in the runner's control block: one RW page-pair right after the code page, so the stubs reach
/// every field RIP-relatively and need no free register to save the instruction's outputs.
/// </summary>
internal static class ControlBlock
{
    public const int Size = 0x2000;

    public const int InGprs = 0x000;          // 16 x u64, hardware order
    public const int InRflags = 0x080;
    public const int InMxcsr = 0x088;
    public const int HostMxcsr = 0x08C;
    public const int HostRsp = 0x090;
    public const int FaultFlag = 0x098;       // u32, set by the signal handler
    public const int FaultSignal = 0x09C;     // u32
    public const int OutGprs = 0x0A0;         // 16 x u64
    public const int OutRflags = 0x120;
    public const int OutMxcsr = 0x128;
    public const int FaultCode = 0x12C;       // u32 si_code
    public const int FaultAddress = 0x130;    // u64 si_addr
    public const int BlockedSignals = 0x138;  // u64 kernel sigset blocked while the case runs
    public const int SavedSignals = 0x140;    // u64 the host thread's mask
    public const int FaultGregs = 0x148;      // 23 x u64, Linux mcontext gregs order
    public const int InXmm = 0x200;           // 256 bytes
    public const int OutXmm = 0x300;          // 256 bytes
    public const int FaultFxsave = 0x400;     // 512 bytes, FXSAVE layout
    public const int HostFxsave = 0x600;      // 512 bytes: the host's x87/SSE state, restored on the way out
    public const int InFxsave = 0x800;        // 512 bytes: the case's x87 state (FXRSTOR64 image)
    public const int OutFxsave = 0xA00;       // 512 bytes: FXSAVE64 right after the instruction
    public const int ScratchStackTop = 0x1F00; // pushfq/popfq only

    public const int FaultGregCount = 23;
    // Indices in mcontext gregs (sys/ucontext.h).
    public const int GregRip = 16, GregEflags = 17, GregErr = 19, GregTrapno = 20;
    /// <summary>For each hardware register number, its index in mcontext gregs.</summary>
    public static ReadOnlySpan<byte> GregOfGpr => [13, 14, 12, 11, 15, 10, 9, 8, 0, 1, 2, 3, 4, 5, 6, 7];

    public const int FxsaveMxcsr = 24;
    public const int FxsaveXmm = 160;
}
