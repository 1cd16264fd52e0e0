using Iced.Intel;
using Sharpvisor.Engines.Emulator.Decoding;
using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Engines.Emulator.Instructions;
using Sharpvisor.Engines.Emulator.Instructions.X87;
using Sharpvisor.Engines.Emulator.Memory;
using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Memory;
using Sharpvisor.Oracle;

namespace Sharpvisor.Engines.Emulator.Tests.Oracle;

/// <summary>
/// Runs an oracle case on the emulator: the case's memory window at its canonical linear address, the instruction
/// on a code page of its own, every register and flag as the case gives them, one instruction executed.
/// </summary>
internal sealed class EmulatedCaseRunner : IDisposable
{
    private const ulong CodeLinear = 0x0000_6000_0000_0000, CodePhysical = 0x10000, WindowPhysical = 0x100000;

    private readonly GuestMemory _ram = GuestMemory.CreateX86(16 << 20);
    private readonly EmulatedMemory _memory;
    private readonly CpuCore _cpu;
    private readonly Interpreter _interpreter;

    public EmulatedCaseRunner()
    {
        var windows = new WindowTranslator();
        windows.Map(CodeLinear, 0x1000, CodePhysical);
        windows.Map(InstructionCase.CanonicalWindowBase, InstructionCase.WindowSize, WindowPhysical);
        _memory = new EmulatedMemory(_ram, new MmioBus(), windows);
        // The host runs the cases in a 64-bit user process: long mode, paging on, CPL 3 (privileged instructions #GP,
        // POPF keeps IF and IOPL), and Linux enables FXSAVE's SSE part (CR4.OSFXSR) for it.
        _cpu = new CpuCore(_memory)
        {
            Cr0 = 0x8005_0033,
            Cr4 = FxsaveInstructions.Cr4Osfxsr,
            Efer = CpuCore.EferSyscallEnable | CpuCore.EferLongModeEnable | CpuCore.EferLongModeActive | CpuCore.EferNoExecuteEnable,
            Cpl = 3,
        };
        _cpu.Segments[CpuCore.Cs] = new SegmentCache { Selector = 0x33, Limit = 0xFFFF_FFFF, Attributes = 0xA0FB };
        _cpu.Segments[CpuCore.Ss] = new SegmentCache { Selector = 0x2B, Limit = 0xFFFF_FFFF, Attributes = 0xC0F3 };
        _cpu.UpdateBitness();
        _interpreter = new Interpreter(_cpu, new BlockCache(_memory, InstructionTable.Default));
    }

    public InstructionOutcome Run(InstructionCase c)
    {
        // Through the emulated memory, so the code-page tracker drops the previous case's decoded block.
        var code = new byte[16];
        Array.Fill(code, (byte)0x90);
        c.Code.CopyTo(code, 0);
        _memory.WriteBytes(CodeLinear, code);
        _ram.Write(WindowPhysical, c.Memory);
        for (int r = 0; r < 16; r++) _cpu.Gpr[r] = c.Gprs[r];
        _cpu.Rflags = c.Rflags | 0x200; // IF: the host runs the case in user mode, where interrupts are always enabled
        _cpu.Rip = CodeLinear;
        _cpu.Mxcsr = c.Mxcsr;
        for (int x = 0; x < 16; x++)
        {
            _cpu.Xmm[x].Low = BitConverter.ToUInt64(c.Xmm, x * 16);
            _cpu.Xmm[x].High = BitConverter.ToUInt64(c.Xmm, x * 16 + 8);
        }

        FxsaveImage.RestoreX87(_cpu, c.X87State, wide: true);

        var reason = _interpreter.Run(1);
        var outcome = InstructionOutcome.CreateBuffers();
        for (int r = 0; r < 16; r++) outcome.Gprs[r] = _cpu.Gpr[r];
        outcome.Rflags = _cpu.Rflags & InstructionOutcome.OutputFlagsMask;
        outcome.Mxcsr = _cpu.Mxcsr;
        for (int x = 0; x < 16; x++)
        {
            BitConverter.TryWriteBytes(outcome.Xmm.AsSpan(x * 16), _cpu.Xmm[x].Low);
            BitConverter.TryWriteBytes(outcome.Xmm.AsSpan(x * 16 + 8), _cpu.Xmm[x].High);
        }
        _ram.Read(WindowPhysical, outcome.Memory);
        FxsaveImage.SaveX87(_cpu, outcome.X87State, wide: true);
        if (reason == StopReason.Fault)
        {
            var f = _interpreter.LastFault!;
            outcome.Fault = new InstructionFault(InstructionFault.KindFromVector(f.Vector), f.Vector, 0, 0, f.ErrorCode ?? 0, f.FaultAddress);
        }
        return outcome;
    }

    public void Dispose() => _ram.Dispose();
}
