using Sharpvisor.Engines.Emulator.Decoding;
using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Engines.Emulator.Instructions;
using Sharpvisor.Engines.Emulator.Memory;
using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Engines.Emulator.Tests.Decoding;

/// <summary>
/// A device writing guest RAM (a disk read landing on a page that held code) goes around every vCPU's stores: the
/// emulator's VM hears of it through <see cref="GuestMemory.WrittenOutsideVcpus"/> and drops the decoded blocks.
/// </summary>
public class DeviceWriteInvalidationTests
{
    private const ulong Code = 0x10000;
    private static readonly byte[] MovEax11 = [0xB8, 0x11, 0x00, 0x00, 0x00, 0x90]; // mov eax, 0x11 ; nop
    private static readonly byte[] MovEax22 = [0xB8, 0x22, 0x00, 0x00, 0x00, 0x90]; // mov eax, 0x22 ; nop

    private static (EmulatorVirtualMachine Vm, CpuCore Cpu, Interpreter Interpreter) Machine(GuestMemory ram)
    {
        var mmio = new MmioBus();
        var vm = (EmulatorVirtualMachine)new EmulatorEngine().CreateVirtualMachine(ram, new PortIoBus(), mmio);
        var memory = new EmulatedMemory(ram, mmio, IdentityTranslator.Instance, vm.CodePages);
        var cpu = new CpuCore(memory);
        return (vm, cpu, new Interpreter(cpu, new BlockCache(memory, InstructionTable.Default)));
    }

    private static ulong RunOnce(CpuCore cpu, Interpreter interpreter)
    {
        cpu.Rip = Code;
        Assert.Equal(StopReason.BudgetExhausted, interpreter.Run(2));
        return cpu.Gpr[CpuCore.Rax];
    }

    [Fact]
    public void CodeRewrittenByGuestMemoryWriteRunsRewritten()
    {
        using var ram = GuestMemory.CreateX86(16 << 20);
        var (vm, cpu, interpreter) = Machine(ram);
        using (vm)
        {
            ram.Write(Code, MovEax11);
            Assert.Equal(0x11UL, RunOnce(cpu, interpreter));
            ram.Write(Code, MovEax22); // as a device's Write into a descriptor's buffer does
            Assert.Equal(0x22UL, RunOnce(cpu, interpreter));
            Assert.True(interpreter.Blocks.Invalidations > 0);
        }
    }

    [Fact]
    public void CodeChangedThroughASpanAndNotedRunsAsChanged()
    {
        using var ram = GuestMemory.CreateX86(16 << 20);
        var (vm, cpu, interpreter) = Machine(ram);
        using (vm)
        {
            ram.Write(Code, MovEax11);
            Assert.Equal(0x11UL, RunOnce(cpu, interpreter));
            // A disk read straight into the span of a descriptor's buffer, then the device notes it.
            MovEax22.CopyTo(ram.GetSpan(Code, MovEax22.Length));
            ram.NoteDeviceWrite(Code, (ulong)MovEax22.Length);
            Assert.Equal(0x22UL, RunOnce(cpu, interpreter));
        }
    }

    [Fact]
    public void ADisposedVmNoLongerListens()
    {
        using var ram = GuestMemory.CreateX86(16 << 20);
        var (vm, _, _) = Machine(ram);
        vm.CodePages.MarkCode(Code >> 12);
        vm.Dispose();
        ram.NoteDeviceWrite(Code, 1);
        Assert.True(vm.CodePages.IsCode(Code >> 12));
    }
}
