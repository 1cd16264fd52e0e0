using Sharpvisor.Engines;
using Sharpvisor.Machine.Acpi;
using Sharpvisor.Machine.Boot;
using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Cpu;
using Sharpvisor.Machine.Devices.Input;
using Sharpvisor.Machine.Devices.Pci;
using Sharpvisor.Machine.Devices.Power;
using Sharpvisor.Machine.Devices.Rtc;
using Sharpvisor.Machine.Devices.Serial;
using Sharpvisor.Machine.Devices.Testing;
using Sharpvisor.Machine.Devices.Virtio;
using Sharpvisor.Machine.Interrupts;
using Sharpvisor.Machine.Memory;
using Sharpvisor.Vmm.Configuration;

namespace Sharpvisor.Vmm.Lifecycle;

/// <summary>
/// The machine as built for one boot: memory, buses, devices, ACPI tables, the loaded kernel, the engine's VM and its
/// vCPU threads. A reboot throws it away and builds a new one, so nothing of the old boot leaks into the next.
/// </summary>
internal sealed class MachineInstance : IDisposable
{
    private readonly VmConfig _config;
    private readonly StopLatch _stop;
    private readonly IVcpu[] _vcpus;
    private readonly Thread[] _threads;
    private readonly List<IDisposable> _devices = [];

    public GuestMemory Memory { get; }
    public PortIoBus Ports { get; } = new();
    public MmioBus Mmio { get; } = new();
    public IVirtualMachine EngineVm { get; }
    public Uart16550 Uart { get; }
    public IReadOnlyList<IVcpu> Vcpus => _vcpus;

    public MachineInstance(VmConfig config, IEngine engine, byte[] kernel, byte[] initrd, Action<byte> serialOutput, StopLatch stop)
    {
        _config = config;
        _stop = stop;
        Memory = GuestMemory.CreateX86(config.MemoryBytes);
        try
        {
            EngineVm = engine.CreateVirtualMachine(Memory, Ports, Mmio);
            Uart = new Uart16550(serialOutput, new InterruptLine(EngineVm, Uart16550.Com1Irq));
            AttachDevices();

            var topology = config.Topology;
            var tables = new AcpiTableBuilder(topology.ApicIds()).WriteTo(Memory);
            CpuState boot = KernelLoader.Load(Memory, kernel, initrd, config.CommandLine, tables.RsdpAddress).BootCpu;

            _vcpus = new IVcpu[topology.VcpuCount];
            for (int i = 0; i < _vcpus.Length; i++)
            {
                var cpuid = CpuidShaper.Shape(CpuidPolicy.Filter(EngineVm.SupportedCpuid), topology, i);
                _vcpus[i] = EngineVm.CreateVcpu(i, topology.ApicId(i), cpuid);
            }
            // vCPU 0 starts at the kernel's entry; the others wait in the engine for INIT and SIPI from the guest.
            var initial = _vcpus[0].GetState();
            _vcpus[0].SetState(boot with
            {
                ApicBase = initial.ApicBase, LocalApic = initial.LocalApic, Msrs = initial.Msrs,
                Fpu = initial.Fpu, Events = initial.Events, RunState = VcpuRunState.Runnable,
            });
            _threads = new Thread[_vcpus.Length];
        }
        catch
        {
            Dispose();
            throw;
        }
    }

    private void AttachDevices()
    {
        Ports.Register(Uart16550.Com1Port, Uart16550.PortCount, Uart, "COM1 (16550A)");
        new I8042Controller(
                () => _stop.TrySet(new(VmOutcome.ResetRequested, "the guest reset the machine through the i8042 controller", Reboot: true)),
                new InterruptLine(EngineVm, I8042Controller.KeyboardIrq), new InterruptLine(EngineVm, I8042Controller.AuxIrq))
            .Attach(Ports);
        Ports.Register(CmosRtc.IndexPort, CmosRtc.PortCount, new CmosRtc(_config.MemoryBytes), "CMOS RTC");
        var pci = new PciRoot();
        Ports.Register(PciRoot.ConfigAddressPort, PciRoot.PortCount, pci, "PCI configuration (mechanism #1)");
        // BARs go where the DSDT's host bridge _CRS says PCI memory is (AcpiTableBuilder's default description).
        var bars = new PciBarAllocator(X86MemoryLayout.PciMmioStart, X86MemoryLayout.PciMmioEnd);
        if (_config.EntropyDevice) AttachVirtio(pci, bars, new VirtioRng(), "virtio-rng");
        if (_config.BalloonDevice) AttachVirtio(pci, bars, new VirtioBalloon(), "virtio-balloon");
        for (int i = 0; i < _config.Disks.Count; i++)
        {
            var disk = _config.Disks[i];
            string name = $"vd{(char)('a' + i)}";
            AttachVirtio(pci, bars, new VirtioBlock(disk.Path, disk.ReadOnly, $"sharpvisor-{name}", LogDevice), $"virtio-blk {name}");
        }
        var power = new AcpiPowerDevice(
            powerOffRequested: () => _stop.TrySet(new(VmOutcome.PoweredOff, "the guest powered off")),
            resetRequested: () => _stop.TrySet(new(VmOutcome.ResetRequested, "the guest reset the machine through ACPI", Reboot: true)));
        Ports.Register(AcpiPowerDevice.BasePort, AcpiPowerDevice.PortCount, power, "ACPI power registers");
        if (_config.TestDevices)
        {
            Ports.Register(DebugExitDevice.DefaultPort, DebugExitDevice.DefaultPortCount, new DebugExitDevice(OnDebugExit), "debug exit");
            Ports.Register(TestEchoPortDevice.DefaultPort, TestEchoPortDevice.PortCount, new TestEchoPortDevice(), "test echo ports");
            Mmio.Register(TestEchoMemoryDevice.DefaultAddress, TestEchoMemoryDevice.Size, new TestEchoMemoryDevice(), "test echo memory");
        }
    }

    private void AttachVirtio(PciRoot pci, PciBarAllocator bars, IVirtioDevice model, string name)
    {
        var device = new VirtioPciDevice(model, Memory, Mmio, EngineVm, LogDevice, name);
        _devices.Add(device);
        device.AttachTo(pci, bars);
    }

    private static void LogDevice(string line) => Console.Error.WriteLine($"sharpvisor: {line}");

    // isa-debug-exit semantics: the guest writes v, QEMU would exit with (v << 1) | 1; v = 0 is a test guest's pass.
    private void OnDebugExit(int exitCode)
    {
        int status = exitCode >> 1;
        _stop.TrySet(status == 0
            ? new(VmOutcome.PoweredOff, "the guest reported success on the debug-exit port", status)
            : new(VmOutcome.GuestReportedFailure, $"the guest reported failure {status} on the debug-exit port", status));
    }

    /// <summary>Starts a thread per vCPU; each runs until the stop latch is set.</summary>
    public void Start()
    {
        _stop.Triggered += KickAll;
        for (int i = 0; i < _vcpus.Length; i++)
        {
            var vcpu = _vcpus[i];
            _threads[i] = new Thread(() => VcpuLoop(vcpu)) { IsBackground = true, Name = $"vCPU {i}" };
            _threads[i].Start();
        }
    }

    private void VcpuLoop(IVcpu vcpu)
    {
        try
        {
            while (!_stop.IsSet)
            {
                var exit = vcpu.Run();
                switch (exit.Reason)
                {
                    case VcpuExitReason.Kicked:
                        break;
                    case VcpuExitReason.Halted:
                        _stop.WaitHandle.WaitOne(1); // an engine without an in-kernel halt: poll gently
                        break;
                    case VcpuExitReason.PowerOff:
                        _stop.TrySet(new(VmOutcome.PoweredOff, "the guest powered off"));
                        break;
                    case VcpuExitReason.Reset:
                        _stop.TrySet(new(VmOutcome.ResetRequested, "the guest reset the machine", Reboot: true));
                        break;
                    case VcpuExitReason.Shutdown:
                    case VcpuExitReason.Failed:
                        _stop.TrySet(new(VmOutcome.GuestCrashed, exit.Report ?? $"vCPU {vcpu.Index} stopped: {exit.Reason}"));
                        break;
                }
            }
        }
        catch (Exception e)
        {
            _stop.TrySet(new(VmOutcome.VmmError, $"vCPU {vcpu.Index}: {e.Message}"));
        }
    }

    private void KickAll()
    {
        foreach (var v in _vcpus) v?.Kick();
    }

    /// <summary>Waits for every vCPU thread to leave the guest.</summary>
    public void Join()
    {
        foreach (var t in _threads)
        {
            if (t is null) continue;
            while (!t.Join(100)) KickAll(); // a kick can race with a thread just entering the guest; repeat it
        }
    }

    public void Dispose()
    {
        _stop.Triggered -= KickAll;
        if (_vcpus is not null)
            foreach (var v in _vcpus) v?.Dispose();
        // Device I/O threads stop before the memory they write goes away.
        foreach (var device in _devices) device.Dispose();
        EngineVm?.Dispose();
        Memory.Dispose();
    }
}
