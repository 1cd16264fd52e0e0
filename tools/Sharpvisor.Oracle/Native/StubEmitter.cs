using Iced.Intel;
using static Iced.Intel.Register;
using C = Iced.Intel.Code;

namespace Sharpvisor.Oracle.Native;

/// <summary>
/// Emits the runner's machine code into the code page: entry (save host, load case state), a 16-byte slot for
/// the instruction under test (padded with NOPs), the exit (store outputs, restore host; the x87 state goes in
/// with FXRSTOR64 and out with FXSAVE64, the host's is saved and restored around the case), and a SA_SIGINFO signal
/// handler that records a fault taken inside the slot and resumes at the exit's host-restoring tail.
/// Every data access is RIP-relative into the control block, so no register is needed to find it.
/// </summary>
internal sealed class StubEmitter
{
    private const int SysRtSigprocmask = 14, SigBlock = 0, SigSetmask = 2;
    private static readonly Register[] Xmms = [XMM0, XMM1, XMM2, XMM3, XMM4, XMM5, XMM6, XMM7, XMM8, XMM9, XMM10, XMM11, XMM12, XMM13, XMM14, XMM15];
    private static readonly Register[] CalleeSaved = [RBX, RBP, R12, R13, R14, R15];

    private readonly ulong _control;
    private readonly List<Instruction> _block = [];
    private ulong _nextIp = 1;

    public StubEmitter(ulong controlBlockAddress) => _control = controlBlockAddress;

    public const int SlotSize = 16;

    public sealed record Layout(int EntryOffset, int SlotOffset, int TailOffset, int HandlerOffset, byte[] Code);

    /// <summary>Builds the whole page image for a code page mapped at <paramref name="codeAddress"/>.</summary>
    public Layout Build(ulong codeAddress)
    {
        var image = new List<byte>();

        EmitEntry();
        byte[] entry = Encode(codeAddress);
        image.AddRange(entry);

        int slot = image.Count;
        for (int i = 0; i < SlotSize; i++) image.Add(0x90);

        EmitExit();
        image.AddRange(Encode(codeAddress + (ulong)image.Count));

        int tail = image.Count;
        EmitTail();
        image.AddRange(Encode(codeAddress + (ulong)tail));

        while (image.Count % 16 != 0) image.Add(0xCC);
        int handler = image.Count;
        EmitHandler(codeAddress + (ulong)slot, codeAddress + (ulong)tail);
        image.AddRange(Encode(codeAddress + (ulong)handler));

        return new Layout(0, slot, tail, handler, image.ToArray());
    }

    private MemoryOperand Field(int offset, int extra = 0) => new(RIP, (long)(_control + (ulong)offset) + extra);

    private void Add(Instruction instruction) { instruction.IP = _nextIp++; _block.Add(instruction); }
    private ulong NewLabel() => _nextIp++;
    private void Bind(ulong label, Instruction instruction) { instruction.IP = label; _block.Add(instruction); }

    private void EmitSigprocmask(int how, int newSetField, int oldSetField)
    {
        Add(Instruction.Create(C.Mov_r32_imm32, EAX, SysRtSigprocmask));
        Add(Instruction.Create(C.Mov_r32_imm32, EDI, how));
        if (newSetField >= 0) Add(Instruction.Create(C.Lea_r64_m, RSI, Field(newSetField)));
        else Add(Instruction.Create(C.Xor_r32_rm32, ESI, ESI));
        if (oldSetField >= 0) Add(Instruction.Create(C.Lea_r64_m, RDX, Field(oldSetField)));
        else Add(Instruction.Create(C.Xor_r32_rm32, EDX, EDX));
        Add(Instruction.Create(C.Mov_r32_imm32, R10D, 8));
        Add(Instruction.Create(C.Syscall));
    }

    private void EmitEntry()
    {
        foreach (Register r in CalleeSaved) Add(Instruction.Create(C.Push_r64, r));
        Add(Instruction.Create(C.Mov_rm64_r64, Field(ControlBlock.HostRsp), RSP));
        Add(Instruction.Create(C.Stmxcsr_m32, Field(ControlBlock.HostMxcsr)));
        // The case may leave anything on the x87 stack or in FCW, which the ABI says callers keep: save the host's.
        Add(Instruction.Create(C.Fxsave64_m512byte, Field(ControlBlock.HostFxsave)));
        // Asynchronous signals would push a frame onto the case's RSP (inside the window or anywhere): block them.
        EmitSigprocmask(SigBlock, ControlBlock.BlockedSignals, ControlBlock.SavedSignals);
        Add(Instruction.Create(C.Fxrstor64_m512byte, Field(ControlBlock.InFxsave)));
        for (int i = 0; i < 16; i++) Add(Instruction.Create(C.Movdqu_xmm_xmmm128, Xmms[i], Field(ControlBlock.InXmm + 16 * i)));
        Add(Instruction.Create(C.Ldmxcsr_m32, Field(ControlBlock.InMxcsr)));
        Add(Instruction.Create(C.Lea_r64_m, RSP, Field(ControlBlock.ScratchStackTop)));
        Add(Instruction.Create(C.Push_rm64, Field(ControlBlock.InRflags)));
        Add(Instruction.Create(C.Popfq));
        for (int i = 0; i < 16; i++) Add(Instruction.Create(C.Mov_r64_rm64, RAX + i, Field(ControlBlock.InGprs + 8 * i)));
    }

    private void EmitExit()
    {
        Add(Instruction.Create(C.Mov_rm64_r64, Field(ControlBlock.OutGprs + 8 * 4), RSP));
        Add(Instruction.Create(C.Lea_r64_m, RSP, Field(ControlBlock.ScratchStackTop)));
        Add(Instruction.Create(C.Pushfq));
        Add(Instruction.Create(C.Pop_rm64, Field(ControlBlock.OutRflags)));
        for (int i = 0; i < 16; i++)
            if (i != 4) Add(Instruction.Create(C.Mov_rm64_r64, Field(ControlBlock.OutGprs + 8 * i), RAX + i));
        for (int i = 0; i < 16; i++) Add(Instruction.Create(C.Movdqu_xmmm128_xmm, Field(ControlBlock.OutXmm + 16 * i), Xmms[i]));
        Add(Instruction.Create(C.Stmxcsr_m32, Field(ControlBlock.OutMxcsr)));
        // FXSAVE checks no pending x87 exception, so an unmasked one the instruction raised is simply recorded.
        Add(Instruction.Create(C.Fxsave64_m512byte, Field(ControlBlock.OutFxsave)));
    }

    /// <summary>Shared by the normal exit and the fault path: back to the host stack, mask, MXCSR and flags.</summary>
    private void EmitTail()
    {
        Add(Instruction.Create(C.Mov_r64_rm64, RSP, Field(ControlBlock.HostRsp)));
        EmitSigprocmask(SigSetmask, ControlBlock.SavedSignals, -1);
        Add(Instruction.Create(C.Fxrstor64_m512byte, Field(ControlBlock.HostFxsave)));
        Add(Instruction.Create(C.Ldmxcsr_m32, Field(ControlBlock.HostMxcsr)));
        // Clean RFLAGS for the host (DF, AC or TF left set by the instruction would break the runtime).
        Add(Instruction.Create(C.Pushq_imm8, 2));
        Add(Instruction.Create(C.Popfq));
        for (int i = CalleeSaved.Length - 1; i >= 0; i--) Add(Instruction.Create(C.Pop_r64, CalleeSaved[i]));
        Add(Instruction.Create(C.Retnq));
    }

    /// <summary>
    /// void handler(int sig, siginfo_t* info, ucontext_t* uc). Offsets are the x86-64 Linux ABI: si_code at 8,
    /// si_addr at 16; uc_mcontext.gregs at 40 (RIP = gregs[16]), fpregs pointer at 224.
    /// </summary>
    private void EmitHandler(ulong slotAddress, ulong tailAddress)
    {
        const int gregs = 40, ripSlot = gregs + 8 * ControlBlock.GregRip, fpregs = 224;
        ulong notOurs = NewLabel(), skipFp = NewLabel();

        Add(Instruction.Create(C.Mov_r64_rm64, RAX, new MemoryOperand(RDX, ripSlot)));
        Add(Instruction.Create(C.Mov_r64_imm64, RCX, slotAddress));
        Add(Instruction.Create(C.Cmp_r64_rm64, RAX, RCX));
        Add(Instruction.CreateBranch(C.Jb_rel32_64, notOurs));
        Add(Instruction.Create(C.Add_rm64_imm8, RCX, SlotSize));
        Add(Instruction.Create(C.Cmp_r64_rm64, RAX, RCX));
        Add(Instruction.CreateBranch(C.Ja_rel32_64, notOurs));

        Add(Instruction.Create(C.Mov_rm32_r32, Field(ControlBlock.FaultSignal), EDI));
        Add(Instruction.Create(C.Mov_r32_rm32, EAX, new MemoryOperand(RSI, 8)));
        Add(Instruction.Create(C.Mov_rm32_r32, Field(ControlBlock.FaultCode), EAX));
        Add(Instruction.Create(C.Mov_r64_rm64, RAX, new MemoryOperand(RSI, 16)));
        Add(Instruction.Create(C.Mov_rm64_r64, Field(ControlBlock.FaultAddress), RAX));

        Add(Instruction.Create(C.Mov_r64_rm64, R8, new MemoryOperand(RDX, fpregs)));
        Add(Instruction.Create(C.Lea_r64_m, RSI, new MemoryOperand(RDX, gregs)));
        Add(Instruction.Create(C.Lea_r64_m, RDI, Field(ControlBlock.FaultGregs)));
        Add(Instruction.Create(C.Mov_r32_imm32, ECX, ControlBlock.FaultGregCount));
        Add(Instruction.CreateRepMovsq(64));
        Add(Instruction.Create(C.Test_rm64_r64, R8, R8));
        Add(Instruction.CreateBranch(C.Je_rel32_64, skipFp));
        Add(Instruction.Create(C.Mov_r64_rm64, RSI, R8));
        Add(Instruction.Create(C.Lea_r64_m, RDI, Field(ControlBlock.FaultFxsave)));
        Add(Instruction.Create(C.Mov_r32_imm32, ECX, 512 / 8));
        Add(Instruction.CreateRepMovsq(64));
        Bind(skipFp, Instruction.Create(C.Mov_rm32_imm32, Field(ControlBlock.FaultFlag), 1));

        // Resume at the tail instead of re-executing the faulting instruction.
        Add(Instruction.Create(C.Mov_r64_imm64, RAX, tailAddress));
        Add(Instruction.Create(C.Mov_rm64_r64, new MemoryOperand(RDX, ripSlot), RAX));
        Add(Instruction.Create(C.Retnq));
        // Not from the slot: SA_RESETHAND already restored the default action, so returning re-executes the
        // faulting instruction and the kernel terminates the process with the real signal.
        Bind(notOurs, Instruction.Create(C.Retnq));
    }

    private byte[] Encode(ulong rip)
    {
        var writer = new ByteWriter();
        if (!BlockEncoder.TryEncode(64, new InstructionBlock(writer, _block.ToArray(), rip), out string? error, out _))
            throw new InvalidOperationException($"Stub encoding failed: {error}");
        _block.Clear();
        return writer.Bytes.ToArray();
    }

    private sealed class ByteWriter : CodeWriter
    {
        public readonly List<byte> Bytes = [];
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
