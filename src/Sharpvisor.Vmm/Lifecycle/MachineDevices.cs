using Sharpvisor.Engines;
using Sharpvisor.Machine.Buses;
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
using Sharpvisor.Vmm.Networking;

namespace Sharpvisor.Vmm.Lifecycle;

/// <summary>
/// The devices of one boot, put on the machine's buses as the configuration asks: the legacy PC devices, the PCI
/// root with the virtio devices of <see cref="VirtioDeviceSet"/>, ACPI power, and the test devices. What the guest
/// does to them that ends the boot (power off, reset, the debug-exit port) goes to the stop latch.
/// </summary>
internal sealed class MachineDevices : IDisposable
{
    private readonly List<VirtioPciDevice> _virtio = [];

    public Uart16550 Uart { get; }

    /// <summary>The virtio-balloon model when the configuration asks for one.</summary>
    public VirtioBalloon? Balloon { get; }

    /// <summary>The i8042 keyboard controller with its PS/2 keyboard.</summary>
    public I8042Controller Keyboard { get; }

    /// <summary>The Generic Event Device behind the DSDT's power button.</summary>
    public AcpiGenericEventDevice GenericEvents { get; }

    public MachineDevices(VmConfig config, GuestMemory memory, PortIoBus ports, MmioBus mmio, IVirtualMachine engineVm,
        NetworkBackends networks, Action<byte> serialOutput, StopLatch stop, Throttling.IoThrottles? throttles = null)
    {
        try
        {
            Uart = new Uart16550(serialOutput, new InterruptLine(engineVm, Uart16550.Com1Irq));
            ports.Register(Uart16550.Com1Port, Uart16550.PortCount, Uart, "COM1 (16550A)");
            Keyboard = new I8042Controller(
                () => stop.TrySet(new(VmOutcome.ResetRequested, "the guest reset the machine through the i8042 controller", Reboot: true)),
                new InterruptLine(engineVm, I8042Controller.KeyboardIrq), new InterruptLine(engineVm, I8042Controller.AuxIrq));
            Keyboard.Attach(ports);
            ports.Register(CmosRtc.IndexPort, CmosRtc.PortCount, new CmosRtc(config.MemoryBytes), "CMOS RTC");

            var pci = new PciRoot();
            ports.Register(PciRoot.ConfigAddressPort, PciRoot.PortCount, pci, "PCI configuration (mechanism #1)");
            // BARs go where the DSDT's host bridge _CRS says PCI memory is (AcpiTableBuilder's default description).
            var bars = new PciBarAllocator(X86MemoryLayout.PciMmioStart, X86MemoryLayout.PciMmioEnd);
            foreach (var (model, name) in VirtioDeviceSet.For(config, networks, Log, throttles))
            {
                var device = new VirtioPciDevice(model, memory, mmio, engineVm, Log, name);
                _virtio.Add(device);
                device.AttachTo(pci, bars);
                if (model is VirtioBalloon balloon) Balloon = balloon;
            }

            var power = new AcpiPowerDevice(
                powerOffRequested: () => stop.TrySet(new(VmOutcome.PoweredOff, "the guest powered off")),
                resetRequested: () => stop.TrySet(new(VmOutcome.ResetRequested, "the guest reset the machine through ACPI", Reboot: true)));
            ports.Register(AcpiPowerDevice.BasePort, AcpiPowerDevice.PortCount, power, "ACPI power registers");
            GenericEvents = new AcpiGenericEventDevice(new InterruptLine(engineVm, AcpiGenericEventDevice.Gsi));
            ports.Register(AcpiGenericEventDevice.EventPort, AcpiGenericEventDevice.PortCount, GenericEvents, "ACPI generic event device");
            if (config.TestDevices)
            {
                ports.Register(DebugExitDevice.DefaultPort, DebugExitDevice.DefaultPortCount, new DebugExitDevice(code => stop.TrySet(DebugExit(code))), "debug exit");
                ports.Register(TestEchoPortDevice.DefaultPort, TestEchoPortDevice.PortCount, new TestEchoPortDevice(), "test echo ports");
                mmio.Register(TestEchoMemoryDevice.DefaultAddress, TestEchoMemoryDevice.Size, new TestEchoMemoryDevice(), "test echo memory");
            }
        }
        catch
        {
            Dispose(); // a disk that cannot be opened leaves no open files or threads behind
            throw;
        }
    }

    /// <summary>Devices with threads of their own (virtio-blk's I/O, virtio-net's receive) finish their batch and hold.</summary>
    public void PauseBackgroundWork()
    {
        foreach (var device in BackgroundWork()) device.PauseProcessing();
    }

    public void ResumeBackgroundWork()
    {
        foreach (var device in BackgroundWork()) device.ResumeProcessing();
    }

    /// <summary>The virtio-blk devices, in the configuration's order of disks.</summary>
    public IReadOnlyList<VirtioBlock> Disks => _virtio.Select(d => d.Device).OfType<VirtioBlock>().ToArray();

    private IEnumerable<IVirtioBackgroundWork> BackgroundWork() => _virtio.Select(d => d.Device).OfType<IVirtioBackgroundWork>();

    private static void Log(string line) => Console.Error.WriteLine($"sharpvisor: {line}");

    // isa-debug-exit semantics: the guest writes v, QEMU would exit with (v << 1) | 1; v = 0 is a test guest's pass.
    private static StopLatch.Reason DebugExit(int exitCode)
    {
        int status = exitCode >> 1;
        return status == 0
            ? new(VmOutcome.PoweredOff, "the guest reported success on the debug-exit port", status)
            : new(VmOutcome.GuestReportedFailure, $"the guest reported failure {status} on the debug-exit port", status);
    }

    /// <summary>Device I/O threads stop here, before the memory they write goes away.</summary>
    public void Dispose()
    {
        foreach (var device in _virtio) device.Dispose();
    }
}
