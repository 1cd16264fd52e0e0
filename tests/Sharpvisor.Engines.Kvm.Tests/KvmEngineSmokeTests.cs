using System.Text;
using Sharpvisor.Engines.Kvm;
using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Cpu;
using Sharpvisor.Machine.Memory;
using Sharpvisor.Testing;

namespace Sharpvisor.Engines.Kvm.Tests;

/// <summary>A few hand-assembled real-mode instructions, run on KVM: the engine's I/O path, state and kick, end to end.</summary>
public class KvmEngineSmokeTests
{
    private sealed class Recorder : IBusDevice
    {
        public readonly List<byte> Written = [];
        public void Read(ulong offset, Span<byte> data) => data.Fill(0x5A);
        public void Write(ulong offset, ReadOnlySpan<byte> data) { lock (Written) Written.AddRange(data.ToArray()); }
    }

    private static bool KvmUsable => new KvmEngine().CheckAvailability().CanRun;

    [SkippableFact]
    public async Task RealModeGuestWritesToAPortAndHalts()
    {
        HostRequires.Kvm();
        Assert.True(KvmUsable, new KvmEngine().CheckAvailability().Reason);
        using var memory = GuestMemory.CreateX86(16 << 20);
        var ports = new PortIoBus();
        var recorder = new Recorder();
        ports.Register(0x3F8, 8, recorder);
        // mov dx,0x3f8; mov al,'O'; out dx,al; mov al,'K'; out dx,al; in al,dx; out dx,al; hlt
        memory.Write(0x1000, [0xBA, 0xF8, 0x03, 0xB0, (byte)'O', 0xEE, 0xB0, (byte)'K', 0xEE, 0xEC, 0xEE, 0xF4]);
        var engine = new KvmEngine();
        using var vm = engine.CreateVirtualMachine(memory, ports, new MmioBus());
        using var vcpu = vm.CreateVcpu(0, 0, vm.SupportedCpuid);
        var state = vcpu.GetState();
        vcpu.SetState(state with
        {
            Cs = SegmentRegister.RealMode(0, code: true),
            Registers = new GeneralRegisters { Rip = 0x1000 },
        });
        // With the in-kernel irqchip HLT does not exit; kick the vCPU once the bytes are in.
        var kicker = Task.Run(async () =>
        {
            for (int i = 0; i < 200 && recorder.Written.Count < 3; i++) await Task.Delay(10);
            vcpu.Kick();
        });
        var exit = vcpu.Run();
        await kicker;
        Assert.True(exit.Reason is VcpuExitReason.Kicked or VcpuExitReason.Halted, exit.Report);
        Assert.Equal("OK\u005A", Encoding.ASCII.GetString(recorder.Written.ToArray()));
        Assert.Equal(0x100Cu, vcpu.GetState().Registers.Rip & 0xFFFF);
    }

    [SkippableFact]
    public void StateRoundTripsThroughKvm()
    {
        HostRequires.Kvm();
        Assert.True(KvmUsable);
        using var memory = GuestMemory.CreateX86(16 << 20);
        using var vm = new KvmEngine().CreateVirtualMachine(memory, new PortIoBus(), new MmioBus());
        using var vcpu = vm.CreateVcpu(0, 0, vm.SupportedCpuid);
        var before = vcpu.GetState();
        var changed = before with { Registers = before.Registers with { Rax = 0x1234_5678_9ABC_DEF0, R15 = 42, Rip = 0x2000 }, Cr2 = 0xDEAD000 };
        vcpu.SetState(changed);
        var after = vcpu.GetState();
        Assert.Equal(changed.Registers, after.Registers);
        Assert.Equal(changed.Cr2, after.Cr2);
        Assert.Equal(changed.Cs, after.Cs);
        Assert.Equal(1024, after.LocalApic!.Length);
    }
}
