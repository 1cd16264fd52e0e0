using Iced.Intel;
using Sharpvisor.Machine.Boot;
using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Cpu;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Engines.Emulator.Tests.Lifecycle;

/// <summary>
/// A one-vCPU emulator VM in 64-bit mode (identity-mapped 2 MiB pages, as the Linux boot protocol sets up) running
/// code assembled at <see cref="CodeAddress"/> on its own thread until <see cref="Stop"/>.
/// </summary>
internal sealed class LongModeVm : IDisposable
{
    public const ulong CodeAddress = 0x100000;

    private Thread? _thread;
    private volatile bool _stopping;

    public GuestMemory Memory { get; } = GuestMemory.CreateX86(32 << 20);
    public EmulatorVirtualMachine Vm { get; }
    public IVcpu Vcpu { get; }

    public LongModeVm(Action<Assembler> program)
    {
        Vm = (EmulatorVirtualMachine)new EmulatorEngine().CreateVirtualMachine(Memory, new PortIoBus(), new MmioBus());
        Vcpu = Vm.CreateVcpu(0, 0, Vm.SupportedCpuid);
        var a = new Assembler(64);
        program(a);
        var stream = new MemoryStream();
        a.Assemble(new StreamCodeWriter(stream), CodeAddress);
        Memory.Write(CodeAddress, stream.ToArray());
        ulong cr3 = IdentityPageTables.Write(Memory);
        var data = SegmentRegister.Data(BootGdt.DataSelector);
        var initial = Vcpu.GetState();
        Vcpu.SetState(initial with
        {
            Registers = new GeneralRegisters { Rip = CodeAddress, Rsp = 0x8000, Rflags = 0x2 },
            Cs = SegmentRegister.Code64(BootGdt.CodeSelector),
            Ds = data, Es = data, Fs = data, Gs = data, Ss = data,
            Tr = BootGdt.LongModeTaskRegister(),
            Gdt = BootGdt.WriteLongMode(Memory),
            Idt = new DescriptorTable(X86MemoryLayout.IdtAddress, 0),
            Cr0 = CpuState.Cr0ProtectionEnable | CpuState.Cr0ExtensionType | CpuState.Cr0NumericError | CpuState.Cr0Paging,
            Cr3 = cr3,
            Cr4 = CpuState.Cr4Pae,
            Efer = CpuState.EferLongModeEnable | CpuState.EferLongModeActive,
        });
    }

    public VcpuExit? LastExit { get; private set; }

    public void Start()
    {
        _stopping = false;
        _thread = new Thread(() =>
        {
            while (!_stopping)
            {
                var exit = Vcpu.Run();
                LastExit = exit;
                if (exit.Reason != VcpuExitReason.Kicked) return;
            }
        }) { IsBackground = true };
        _thread.Start();
    }

    /// <summary>Waits until the quadword at <paramref name="address"/> reaches <paramref name="atLeast"/>.</summary>
    public void WaitFor(ulong address, ulong atLeast, int timeoutMs = 20_000)
    {
        var until = DateTime.UtcNow.AddMilliseconds(timeoutMs);
        while (Memory.ReadUInt64(address) < atLeast)
        {
            if (DateTime.UtcNow > until) throw new TimeoutException($"0x{address:x} stayed at {Memory.ReadUInt64(address)} (exit {LastExit})");
            Thread.Sleep(1);
        }
    }

    public void Stop()
    {
        _stopping = true;
        while (_thread is { } t && !t.Join(50)) Vcpu.Kick();
        _thread = null;
    }

    public void Dispose()
    {
        Stop();
        Vcpu.Dispose();
        Vm.Dispose();
        Memory.Dispose();
    }
}
