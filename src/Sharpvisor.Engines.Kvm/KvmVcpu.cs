using System.Runtime.InteropServices;
using Sharpvisor.Engines.Kvm.Native;
using Sharpvisor.Machine.Cpu;
using Sharpvisor.Machine.Native;

namespace Sharpvisor.Engines.Kvm;

/// <summary>One KVM vCPU: its fd, the shared kvm_run page, and the exit loop that feeds guest I/O to the buses.</summary>
public sealed class KvmVcpu : IVcpu
{
    private readonly KvmVirtualMachine _vm;
    private readonly FileDescriptorHandle _fd;
    private unsafe byte* _run;
    private readonly int _runSize;
    private volatile int _threadId;
    private int _disposed;

    public int Index { get; }
    public uint ApicId { get; }

    /// <summary>Exits handled inside <see cref="Run"/> (port I/O and MMIO), for statistics and benchmarks.</summary>
    private long _ioExits;
    public long IoExits => Volatile.Read(ref _ioExits);

    internal unsafe KvmVcpu(KvmVirtualMachine vm, int index, uint apicId, IReadOnlyList<CpuidEntry> cpuid)
    {
        _vm = vm;
        Index = index;
        ApicId = apicId;
        int fd = KvmCalls.Ioctl(vm.VmHandle, KvmIoctls.CreateVcpu, (nint)apicId, $"CREATE_VCPU {index}");
        _fd = new FileDescriptorHandle(fd);
        _runSize = vm.VcpuMmapSize;
        nint run = Libc.mmap(0, (nuint)_runSize, Libc.ProtRead | Libc.ProtWrite, Libc.MapShared, fd, 0);
        if (run == Libc.MapFailed)
        {
            _fd.Dispose();
            throw new EngineException($"cannot map kvm_run for vCPU {index}: {Libc.LastErrorText()}");
        }
        _run = (byte*)run;
        SetCpuid(cpuid);
        _ = VcpuKickSignal.Number; // install the handler before any Kick can be sent
    }

    private unsafe void SetCpuid(IReadOnlyList<CpuidEntry> cpuid)
    {
        int bytes = 8 + cpuid.Count * sizeof(KvmCpuidEntry2);
        var buffer = new byte[bytes];
        fixed (byte* p = buffer)
        {
            *(uint*)p = (uint)cpuid.Count;
            var entries = (KvmCpuidEntry2*)(p + 8);
            for (int i = 0; i < cpuid.Count; i++)
            {
                var e = cpuid[i];
                entries[i] = new KvmCpuidEntry2
                {
                    Function = e.Function, Index = e.Index, Flags = e.IndexSignificant ? 1u : 0u,
                    Eax = e.Eax, Ebx = e.Ebx, Ecx = e.Ecx, Edx = e.Edx,
                };
            }
            KvmCalls.Ioctl(_fd, KvmIoctls.SetCpuid2, p, $"SET_CPUID2 (vCPU {Index})");
        }
    }

    public unsafe VcpuExit Run()
    {
        _threadId = VcpuKickSignal.CurrentThreadId();
        try
        {
            while (true)
            {
                int r = Libc.ioctl(_fd.Fd, KvmIoctls.Run, 0);
                if (r < 0)
                {
                    int errno = Marshal.GetLastPInvokeError();
                    if (errno == Libc.ErrnoInterrupted || errno == Libc.ErrnoAgain)
                    {
                        Volatile.Write(ref _run[KvmRunLayout.ImmediateExit], 0);
                        return VcpuExit.Kicked;
                    }
                    return new VcpuExit(VcpuExitReason.Failed,
                        Describe($"KVM_RUN failed on vCPU {Index}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})"));
                }

                // Safe: _run maps this vCPU's kvm_run (_runSize bytes) until Dispose; KVM wrote it before KVM_RUN returned, and every offset read below lies in its head or 256-byte union (KvmRunLayoutTests).
                uint reason = *(uint*)(_run + KvmRunLayout.ExitReason);
                switch (reason)
                {
                    case KvmExitReasons.Io:
                        HandlePortIo();
                        _ioExits++;
                        continue;
                    case KvmExitReasons.Mmio:
                        HandleMmio();
                        _ioExits++;
                        continue;
                    case KvmExitReasons.IrqWindowOpen:
                        continue;
                    case KvmExitReasons.Intr:
                        Volatile.Write(ref _run[KvmRunLayout.ImmediateExit], 0);
                        return VcpuExit.Kicked;
                    case KvmExitReasons.Hlt:
                        return new VcpuExit(VcpuExitReason.Halted);
                    case KvmExitReasons.Shutdown:
                        return new VcpuExit(VcpuExitReason.Shutdown, Describe($"vCPU {Index}: the guest shut down (triple fault)"));
                    case KvmExitReasons.SystemEvent:
                        uint type = *(uint*)(_run + KvmRunLayout.SystemEventType);
                        return type switch
                        {
                            KvmExitReasons.SystemEventReset => new VcpuExit(VcpuExitReason.Reset),
                            KvmExitReasons.SystemEventShutdown => new VcpuExit(VcpuExitReason.PowerOff),
                            _ => new VcpuExit(VcpuExitReason.Shutdown, Describe($"vCPU {Index}: system event {type} (guest crash)")),
                        };
                    case KvmExitReasons.InternalError:
                        uint sub = *(uint*)(_run + KvmRunLayout.InternalSuberror);
                        string what = sub switch
                        {
                            KvmExitReasons.InternalErrorEmulation => "emulation failure",
                            KvmExitReasons.InternalErrorSimultaneousExceptions => "simultaneous exceptions",
                            KvmExitReasons.InternalErrorDeliveryEvent => "delivery event failure",
                            _ => $"suberror {sub}",
                        };
                        return new VcpuExit(VcpuExitReason.Failed, Describe($"KVM internal error on vCPU {Index}: {what}"));
                    case KvmExitReasons.FailEntry:
                        ulong hw = *(ulong*)(_run + KvmRunLayout.FailEntryReason);
                        return new VcpuExit(VcpuExitReason.Failed, Describe($"KVM could not enter the guest on vCPU {Index}: hardware entry failure reason 0x{hw:x}"));
                    default:
                        return new VcpuExit(VcpuExitReason.Failed, Describe($"vCPU {Index}: unexpected KVM exit {KvmExitReasons.Name(reason)}"));
                }
            }
        }
        finally
        {
            _threadId = 0;
        }
    }

    private unsafe void HandlePortIo()
    {
        // Safe: fixed io fields of kvm_run; the data they point to is checked against the mapping's size before use.
        byte direction = _run[KvmRunLayout.IoDirection];
        int size = _run[KvmRunLayout.IoSize];
        ushort port = *(ushort*)(_run + KvmRunLayout.IoPort);
        uint count = *(uint*)(_run + KvmRunLayout.IoCount);
        ulong offset = *(ulong*)(_run + KvmRunLayout.IoDataOffset);
        if (offset + (ulong)size * count > (ulong)_runSize) return; // malformed; never trust sizes blindly
        byte* data = _run + offset;
        for (uint i = 0; i < count; i++, data += size)
        {
            var span = new Span<byte>(data, size);
            if (direction == KvmExitReasons.IoIn) _vm.Ports.Read(port, span);
            else _vm.Ports.Write(port, span);
        }
    }

    private unsafe void HandleMmio()
    {
        // Safe: fixed mmio fields of kvm_run; the span is at most the 8 bytes of mmio.data, whatever len says.
        ulong address = *(ulong*)(_run + KvmRunLayout.MmioPhysAddr);
        int length = (int)Math.Min(8u, *(uint*)(_run + KvmRunLayout.MmioLen));
        var data = new Span<byte>(_run + KvmRunLayout.MmioData, length);
        if (_run[KvmRunLayout.MmioIsWrite] != 0) _vm.Mmio.Write(address, data);
        else _vm.Mmio.Read(address, data);
    }

    public unsafe void Kick()
    {
        if (_run == null) return;
        // Safe: immediate_exit is a byte KVM only reads; _run is checked above and unmapped only by Dispose after the vCPU thread ends.
        Volatile.Write(ref _run[KvmRunLayout.ImmediateExit], 1);
        VcpuKickSignal.Send(_threadId);
    }

    public CpuState GetState() => KvmCpuState.Read(_fd, _vm);

    public void SetState(CpuState state) => KvmCpuState.Write(_fd, _vm, state);

    /// <summary>The failure text with registers and the instruction at RIP, read through the guest's own page tables.</summary>
    private unsafe string Describe(string headline)
    {
        CpuState? state = null;
        byte[] bytes = [];
        ulong? physical = null;
        try
        {
            state = GetState();
            var t = new KvmTranslation { LinearAddress = state.Registers.Rip + ((state.Efer & CpuState.EferLongModeActive) != 0 ? 0 : state.Cs.Base) };
            if (Libc.ioctl(_fd.Fd, KvmIoctls.Translate, &t) == 0 && t.Valid != 0)
            {
                physical = t.PhysicalAddress;
                int n = 15;
                while (n > 0 && !_vm.Memory.IsRam(t.PhysicalAddress, (ulong)n)) n--;
                if (n > 0) bytes = _vm.Memory.GetSpan(t.PhysicalAddress, n).ToArray();
            }
        }
        catch (EngineException) { }
        return FaultReport.Build(headline, state, bytes, physical);
    }

    public unsafe void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        if (_run != null)
        {
            Libc.munmap((nint)_run, (nuint)_runSize);
            _run = null;
        }
        _fd.Dispose();
    }
}
