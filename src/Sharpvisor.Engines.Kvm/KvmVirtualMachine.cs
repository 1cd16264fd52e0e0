using Sharpvisor.Engines.Kvm.Native;
using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Cpu;
using Sharpvisor.Machine.Memory;
using Sharpvisor.Machine.Native;

namespace Sharpvisor.Engines.Kvm;

/// <summary>One KVM VM: guest memory slots, the in-kernel irqchip (PIC, IOAPIC, local APICs) and PIT, and its vCPUs.</summary>
public sealed class KvmVirtualMachine : IVirtualMachine
{
    // Three pages below the BIOS area that Intel VMX needs for real-mode emulation; unused by AMD, harmless there.
    private const ulong TssAddress = 0xFFFB_D000;
    private const ulong IdentityMapAddress = 0xFFFB_C000;
    private const uint MemLogDirtyPages = 1;
    private const uint PitSpeakerDummy = 1;
    private const int MaxCpuidEntries = 256;

    private readonly FileDescriptorHandle _kvm;
    private readonly FileDescriptorHandle _vm;
    private readonly List<KvmVcpu> _vcpus = [];
    private bool _dirtyLogging;

    internal GuestMemory Memory { get; }
    internal PortIoBus Ports { get; }
    internal MmioBus Mmio { get; }
    internal int VcpuMmapSize { get; }
    internal FileDescriptorHandle KvmDevice => _kvm;
    internal bool HasXsave { get; }
    internal bool HasXcrs { get; }
    internal IReadOnlyList<uint> SavedMsrIndices { get; }

    public IReadOnlyList<CpuidEntry> SupportedCpuid { get; }

    internal unsafe KvmVirtualMachine(FileDescriptorHandle kvm, GuestMemory memory, PortIoBus ports, MmioBus mmio)
    {
        _kvm = kvm;
        Memory = memory;
        Ports = ports;
        Mmio = mmio;
        int vmFd = KvmCalls.Ioctl(kvm, KvmIoctls.CreateVm, 0, "CREATE_VM");
        _vm = new FileDescriptorHandle(vmFd);
        try
        {
            if (KvmCalls.CheckExtension(kvm, KvmCapabilities.SetTssAddr) != 0)
            {
                KvmCalls.Ioctl(_vm, KvmIoctls.SetTssAddr, unchecked((nint)TssAddress), "SET_TSS_ADDR");
                ulong identity = IdentityMapAddress;
                Libc.ioctl(_vm.Fd, KvmIoctls.SetIdentityMapAddr, &identity); // optional: absent on AMD-only hosts
            }
            KvmCalls.Ioctl(_vm, KvmIoctls.CreateIrqchip, 0, "CREATE_IRQCHIP");
            var pit = new KvmPitConfig { Flags = PitSpeakerDummy };
            KvmCalls.Ioctl(_vm, KvmIoctls.CreatePit2, &pit, "CREATE_PIT2");
            foreach (var region in memory.Regions) SetMemoryRegion(region, 0);
            VcpuMmapSize = KvmCalls.Ioctl(kvm, KvmIoctls.GetVcpuMmapSize, 0, "GET_VCPU_MMAP_SIZE");
            SupportedCpuid = ReadSupportedCpuid(kvm);
            HasXsave = KvmCalls.CheckExtension(kvm, KvmCapabilities.Xsave) != 0;
            HasXcrs = KvmCalls.CheckExtension(kvm, KvmCapabilities.Xcrs) != 0;
            SavedMsrIndices = KvmMsrs.SavedIndices(kvm);
        }
        catch
        {
            _vm.Dispose();
            _kvm.Dispose();
            throw;
        }
    }

    internal FileDescriptorHandle VmHandle => _vm;

    private unsafe void SetMemoryRegion(GuestMemoryRegion region, uint flags)
    {
        var r = new KvmUserspaceMemoryRegion
        {
            Slot = (uint)region.Slot,
            Flags = flags,
            GuestPhysAddr = region.GuestPhysicalAddress,
            MemorySize = region.Size,
            UserspaceAddr = (ulong)region.HostAddress,
        };
        KvmCalls.Ioctl(_vm, KvmIoctls.SetUserMemoryRegion, &r, $"SET_USER_MEMORY_REGION (slot {region.Slot})");
    }

    private static unsafe CpuidEntry[] ReadSupportedCpuid(FileDescriptorHandle kvm)
    {
        int bytes = 8 + MaxCpuidEntries * sizeof(KvmCpuidEntry2);
        byte* buffer = stackalloc byte[bytes];
        new Span<byte>(buffer, bytes).Clear();
        *(uint*)buffer = MaxCpuidEntries;
        KvmCalls.Ioctl(kvm, KvmIoctls.GetSupportedCpuid, buffer, "GET_SUPPORTED_CPUID");
        uint count = *(uint*)buffer;
        var entries = (KvmCpuidEntry2*)(buffer + 8);
        var result = new CpuidEntry[count];
        for (int i = 0; i < count; i++)
        {
            var e = entries[i];
            result[i] = new CpuidEntry(e.Function, e.Index, (e.Flags & 1) != 0, e.Eax, e.Ebx, e.Ecx, e.Edx);
        }
        return result;
    }

    public IVcpu CreateVcpu(int index, uint apicId, IReadOnlyList<CpuidEntry> cpuid)
    {
        var vcpu = new KvmVcpu(this, index, apicId, cpuid);
        lock (_vcpus) _vcpus.Add(vcpu);
        return vcpu;
    }

    public unsafe void SetIrqLevel(uint gsi, bool asserted)
    {
        var level = new KvmIrqLevel { Irq = gsi, Level = asserted ? 1u : 0u };
        KvmCalls.Ioctl(_vm, KvmIoctls.IrqLine, &level, $"IRQ_LINE (gsi {gsi})");
    }

    public unsafe void SignalMsi(ulong address, uint data)
    {
        var msi = new KvmMsi { AddressLo = (uint)address, AddressHi = (uint)(address >> 32), Data = data };
        KvmCalls.Ioctl(_vm, KvmIoctls.SignalMsi, &msi, "SIGNAL_MSI");
    }

    public void SetDirtyLogging(bool enabled)
    {
        if (enabled == _dirtyLogging) return;
        foreach (var region in Memory.Regions) SetMemoryRegion(region, enabled ? MemLogDirtyPages : 0);
        _dirtyLogging = enabled;
    }

    public unsafe void CollectDirtyPages(GuestMemoryRegion region, DirtyPageBitmap into)
    {
        if (!_dirtyLogging) throw new InvalidOperationException("dirty logging is off");
        var words = new ulong[into.Words.Length];
        fixed (ulong* bitmap = words)
        {
            var log = new KvmDirtyLog { Slot = (uint)region.Slot, DirtyBitmap = (nint)bitmap };
            KvmCalls.Ioctl(_vm, KvmIoctls.GetDirtyLog, &log, $"GET_DIRTY_LOG (slot {region.Slot})");
        }
        for (int i = 0; i < words.Length; i++) into.Words[i] |= words[i];
    }

    private ulong? _pausedClock;

    /// <summary>KVM_GET_CLOCK now; KVM_SET_CLOCK with the same value at resume takes the paused time out of kvm-clock.</summary>
    public void PauseClock()
    {
        _pausedClock ??= ReadClock();
    }

    public void ResumeClock()
    {
        if (_pausedClock is not { } value) return;
        _pausedClock = null;
        WriteClock(value);
    }

    public unsafe ulong ReadClock()
    {
        if (_pausedClock is { } paused) return paused;
        var data = new KvmClockData();
        KvmCalls.Ioctl(_vm, KvmIoctls.GetClock, &data, "GET_CLOCK");
        return data.Clock;
    }

    public unsafe void WriteClock(ulong nanoseconds)
    {
        if (_pausedClock is not null)
        {
            _pausedClock = nanoseconds; // applied when the clock resumes
            return;
        }
        var data = new KvmClockData { Clock = nanoseconds };
        KvmCalls.Ioctl(_vm, KvmIoctls.SetClock, &data, "SET_CLOCK");
    }

    /// <summary>The in-kernel PICs, IOAPIC and PIT (KVM_GET_IRQCHIP x3, KVM_GET_PIT2), with a version word in front.</summary>
    public unsafe byte[] SaveEngineState()
    {
        var blob = new byte[KvmEngineStateLayout.BlobSize];
        fixed (byte* p = blob)
        {
            *(int*)p = KvmEngineStateLayout.BlobVersion;
            for (uint chip = 0; chip < 3; chip++)
            {
                byte* irqchip = p + 4 + chip * KvmEngineStateLayout.IrqchipSize;
                *(uint*)irqchip = chip;
                KvmCalls.Ioctl(_vm, KvmIoctls.GetIrqchip, irqchip, $"GET_IRQCHIP {chip}");
            }
            KvmCalls.Ioctl(_vm, KvmIoctls.GetPit2, p + 4 + 3 * KvmEngineStateLayout.IrqchipSize, "GET_PIT2");
        }
        return blob;
    }

    public unsafe void RestoreEngineState(byte[] state)
    {
        if (state.Length != KvmEngineStateLayout.BlobSize)
            throw new EngineException($"KVM engine state is {state.Length} bytes, expected {KvmEngineStateLayout.BlobSize}");
        fixed (byte* p = state)
        {
            if (*(int*)p != KvmEngineStateLayout.BlobVersion)
                throw new EngineException($"KVM engine state version {*(int*)p} is not {KvmEngineStateLayout.BlobVersion}");
            for (uint chip = 0; chip < 3; chip++)
            {
                byte* irqchip = p + 4 + chip * KvmEngineStateLayout.IrqchipSize;
                if (*(uint*)irqchip != chip) throw new EngineException($"KVM engine state holds chip {*(uint*)irqchip} where chip {chip} belongs");
                KvmCalls.Ioctl(_vm, KvmIoctls.SetIrqchip, irqchip, $"SET_IRQCHIP {chip}");
            }
            KvmCalls.Ioctl(_vm, KvmIoctls.SetPit2, p + 4 + 3 * KvmEngineStateLayout.IrqchipSize, "SET_PIT2");
        }
    }

    public void Dispose()
    {
        lock (_vcpus)
        {
            foreach (var v in _vcpus) v.Dispose();
            _vcpus.Clear();
        }
        _vm.Dispose();
        _kvm.Dispose();
    }
}
