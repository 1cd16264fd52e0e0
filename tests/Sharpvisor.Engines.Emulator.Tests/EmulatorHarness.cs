using Iced.Intel;
using Sharpvisor.Engines.Emulator.Decoding;
using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Engines.Emulator.Instructions;
using Sharpvisor.Engines.Emulator.Memory;
using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Engines.Emulator.Tests;

/// <summary>A 16 MiB flat machine for the interpreter: code assembled with Iced at 0x10000, the stack below 0x80000.</summary>
internal sealed class EmulatorHarness : IDisposable
{
    public const ulong CodeAddress = 0x10000, StackTop = 0x80000;

    public GuestMemory Ram { get; } = GuestMemory.CreateX86(16 << 20);
    public EmulatedMemory Memory { get; }
    public CpuCore Cpu { get; }
    public Interpreter Interpreter { get; }

    public EmulatorHarness(IAddressTranslator? translator = null)
    {
        Memory = new EmulatedMemory(Ram, new MmioBus(), translator ?? IdentityTranslator.Instance);
        Cpu = new CpuCore(Memory) { Rip = CodeAddress };
        Cpu.Gpr[CpuCore.Rsp] = StackTop;
        Interpreter = new Interpreter(Cpu, new BlockCache(Memory, InstructionTable.Default));
    }

    /// <summary>Assembles <paramref name="emit"/> at <see cref="CodeAddress"/> and returns the address after it.</summary>
    public ulong Load(Action<Assembler> emit, ulong address = CodeAddress)
    {
        var a = new Assembler(64);
        emit(a);
        var stream = new MemoryStream();
        a.Assemble(new StreamCodeWriter(stream), address);
        Ram.Write(address, stream.ToArray());
        return address + (ulong)stream.Length;
    }

    /// <summary>Runs until RIP reaches <paramref name="end"/> or the budget runs out.</summary>
    public StopReason RunTo(ulong end, long budget = 10_000_000)
    {
        while (Cpu.Rip != end && budget > 0)
        {
            long before = Cpu.InstructionsRetired;
            var reason = Interpreter.Run(1);
            if (reason == StopReason.Fault) return reason;
            budget -= Cpu.InstructionsRetired - before;
        }
        return Cpu.Rip == end ? StopReason.BudgetExhausted : throw new TimeoutException($"RIP 0x{Cpu.Rip:x} never reached 0x{end:x}");
    }

    public void Dispose() => Ram.Dispose();
}
