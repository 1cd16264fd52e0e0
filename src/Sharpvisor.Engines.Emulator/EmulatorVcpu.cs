using Sharpvisor.Engines.Emulator.Apic;
using Sharpvisor.Engines.Emulator.Clock;
using Sharpvisor.Engines.Emulator.Decoding;
using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Engines.Emulator.Instructions;
using Sharpvisor.Engines.Emulator.Instructions.X87;
using Sharpvisor.Engines.Emulator.Memory;
using Sharpvisor.Machine.Cpu;

namespace Sharpvisor.Engines.Emulator;

/// <summary>
/// One emulated vCPU: its core, paging unit and TLB, decoded-block cache and local APIC, and the loop that runs guest
/// code in slices, fires APIC timers between them, sleeps in HLT until an interrupt, and follows INIT and start-up IPIs.
/// </summary>
public sealed class EmulatorVcpu : IVcpu, IInstructionCounter
{
    /// <summary>Instructions per slice: timers, kicks and INIT are looked at between slices (about a millisecond apart).</summary>
    public const long SliceInstructions = 50_000;
    private static readonly TimeSpan LongestHaltWait = TimeSpan.FromMilliseconds(50);

    private readonly EmulatorVirtualMachine _vm;
    private readonly CpuCore _cpu;
    private readonly Interpreter _interpreter;
    private readonly LocalApic _apic;
    private readonly HashSet<uint> _reportedMsrs = [];
    private volatile bool _kicked;
    private bool _waitingForStartup;

    internal EmulatorVcpu(EmulatorVirtualMachine vm, int index, uint apicId, IReadOnlyList<CpuidEntry> cpuid)
    {
        _vm = vm;
        Index = index;
        var memory = new EmulatedMemory(vm.Memory, vm.Mmio, IdentityTranslator.Instance, vm.CodePages);
        _cpu = new CpuCore(memory)
        {
            Cpuid = cpuid.ToArray(),
            Ports = vm.Ports,
            DeliverExceptions = true,
            TimeStampCounter = vm.Clock.Now,
        };
        memory.Translator = new PagingUnit(_cpu);
        // The APIC times its deadlines in this vCPU's TSC, as the guest reads it (IA32_TSC writes move it).
        _apic = new LocalApic(vm.ApicBus, _cpu, apicId, bootstrap: index == 0, new ApicClock(_cpu.ReadTimeStampCounter, GuestClock.FrequencyHz));
        _cpu.Interrupts = _apic;
        _cpu.MsrHandlers.Add(_apic);
        _cpu.MsrHandlers.Add(new ParavirtualClock(vm.Memory, vm.Clock, _cpu));
        _cpu.UnknownMsrAccessed = ReportUnknownMsr;
        if (_apic.IsMmioEnabled) memory.MapLocalDevice(_apic.MmioBase, 0x1000, _apic);
        _apic.MmioMappingChanged += apic =>
        {
            memory.UnmapLocalDevice(apic);
            if (apic.IsMmioEnabled) memory.MapLocalDevice(apic.MmioBase, 0x1000, apic);
        };
        _interpreter = new Interpreter(_cpu, new BlockCache(memory, InstructionTable.Default));
        // Application processors wait for INIT and a start-up IPI from the bootstrap processor.
        _waitingForStartup = index != 0;
    }

    public int Index { get; }
    public CpuCore Core => _cpu;

    // The counters are plain fields this vCPU's thread increments; a reader on another thread may see a slightly old sum.
    public long IoExits => Volatile.Read(ref _cpu.PortAccesses) + Volatile.Read(ref _cpu.Memory.MmioAccesses);
    public LocalApic Apic => _apic;
    public long InstructionsRetired => _cpu.InstructionsRetired;

    public CpuState GetState()
    {
        var state = CpuStateMapper.ToCpuState(_cpu);
        return state with
        {
            Fpu = X87StateMapper.FromCore(_cpu, state.Fpu),
            LocalApic = _apic.SaveState(),
            RunState = _waitingForStartup ? VcpuRunState.WaitingForSipi : state.RunState,
        };
    }

    public void SetState(CpuState state)
    {
        if (state.LocalApic is { } page) _apic.RestoreState(page);
        CpuStateMapper.Apply(_cpu, state);
        X87StateMapper.ToCore(state.Fpu, _cpu);
        _waitingForStartup = state.RunState is VcpuRunState.WaitingForSipi or VcpuRunState.InitReceived;
    }

    public VcpuExit Run()
    {
        while (true)
        {
            if (_kicked)
            {
                _kicked = false;
                return VcpuExit.Kicked;
            }
            if (_apic.TryTakeInit())
            {
                ResetToInitState();
                _waitingForStartup = true;
            }
            if (_waitingForStartup)
            {
                if (_apic.TryTakeStartup(out byte vector)) StartAt(vector);
                else
                {
                    _apic.WakeHandle.WaitOne(LongestHaltWait);
                    continue;
                }
            }

            _apic.FireDueTimers(_cpu.ReadTimeStampCounter());
            StopReason reason;
            var gate = _cpu.Memory.SliceGate; // other threads change the TLB only between slices (dirty log)
            gate.Enter();
            try
            {
                reason = _interpreter.Run(SliceInstructions);
            }
            catch (UnimplementedInstructionException e)
            {
                return new VcpuExit(VcpuExitReason.Failed, FaultReport.Build(
                    $"vCPU {Index}: the emulator does not implement the instruction at RIP 0x{e.Rip:x} ({e.Text})",
                    GetState(), e.Bytes));
            }
            finally
            {
                gate.Exit();
            }
            switch (reason)
            {
                case StopReason.Halted:
                    _apic.WaitWhileHalted(_cpu.InterruptsEnabled, LongestHaltWait);
                    break;
                case StopReason.TripleFault:
                    return new VcpuExit(VcpuExitReason.Shutdown, FaultReport.Build(
                        $"vCPU {Index}: triple fault ({_interpreter.TripleFaultDescription}); the guest's processor shut down",
                        GetState(), InstructionBytesAtRip()));
                case StopReason.Fault:
                    return new VcpuExit(VcpuExitReason.Failed, FaultReport.Build(
                        $"vCPU {Index}: guest exception {_interpreter.LastFault?.Message} was not delivered",
                        GetState(), InstructionBytesAtRip()));
            }
        }
    }

    public void Kick()
    {
        _kicked = true;
        _cpu.InterruptCheckRequested = true;
        _apic.Kick();
    }

    private void ResetToInitState()
    {
        ProcessorReset.Init(_cpu);
        _cpu.Gpr[CpuCore.Rdx] = EmulatorCpuid.FamilyModelStepping;
    }

    // Real mode at CS = vector << 8, IP = 0: where the kernel placed its trampoline for this processor.
    private void StartAt(byte vector)
    {
        ProcessorReset.StartupIpi(_cpu, vector);
        _waitingForStartup = false;
    }

    private byte[] InstructionBytesAtRip()
    {
        var bytes = new byte[15];
        try
        {
            _cpu.Memory.ReadBytes(_cpu.Rip, bytes, AccessKind.Execute);
            return bytes;
        }
        catch (GuestFault)
        {
            return [];
        }
    }

    private void ReportUnknownMsr(uint index, bool write)
    {
        lock (_reportedMsrs)
            if (!_reportedMsrs.Add(index)) return;
        string message = $"vCPU {Index}: the guest {(write ? "wrote" : "read")} MSR 0x{index:x}, which this machine does not implement: it got #GP";
        if (_vm.Log is { } log) log(message);
        else Console.Error.WriteLine("sharpvisor: " + message);
    }

    public void Dispose() { }
}
