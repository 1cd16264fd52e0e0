using Sharpvisor.Engines.Kvm.Native;
using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Memory;
using Sharpvisor.Vmm.Tests.Lifecycle;

namespace Sharpvisor.Vmm.Tests.Snapshots;

public sealed class KvmEngineStateTests
{
    private const int IrqchipsLength = 4 + 3 * KvmEngineStateLayout.IrqchipSize;

    [SkippableFact]
    public void The_in_kernel_interrupt_controllers_state_moves_to_another_vm()
    {
        using var memoryA = GuestMemory.CreateX86(16 << 20);
        using var memoryB = GuestMemory.CreateX86(16 << 20);
        using var a = TestEngines.Create("kvm").CreateVirtualMachine(memoryA, new PortIoBus(), new MmioBus());
        using var b = TestEngines.Create("kvm").CreateVirtualMachine(memoryB, new PortIoBus(), new MmioBus());
        a.SetIrqLevel(5, true);   // a level-triggered line held high: the PIC's and the IOAPIC's request registers show it
        byte[] saved = a.SaveEngineState();
        byte[] fresh = b.SaveEngineState();
        Assert.Equal(KvmEngineStateLayout.BlobSize, saved.Length);
        Assert.False(saved.AsSpan(0, IrqchipsLength).SequenceEqual(fresh.AsSpan(0, IrqchipsLength)));

        b.RestoreEngineState(saved);
        byte[] after = b.SaveEngineState();
        // The PIT's channel states carry a host load time, so only the interrupt controllers are compared byte for byte.
        Assert.True(saved.AsSpan(0, IrqchipsLength).SequenceEqual(after.AsSpan(0, IrqchipsLength)));

        var damaged = (byte[])saved.Clone();
        damaged[0] = 9;
        Assert.Throws<Sharpvisor.Engines.EngineException>(() => b.RestoreEngineState(damaged));
        Assert.Throws<Sharpvisor.Engines.EngineException>(() => b.RestoreEngineState(saved[..100]));
    }
}
