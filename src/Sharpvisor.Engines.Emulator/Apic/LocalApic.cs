using System.Buffers.Binary;
using System.Numerics;
using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Devices.Interrupts;
using R = Sharpvisor.Engines.Emulator.Apic.LocalApicRegister;

namespace Sharpvisor.Engines.Emulator.Apic;

/// <summary>
/// One vCPU's local APIC (an integrated xAPIC with x2APIC mode and the TSC-deadline timer), for the emulator engine.
/// <para>
/// Access: the 4 KiB xAPIC page (<see cref="IBusDevice"/>, offsets relative to <see cref="MmioBase"/>, 32-bit
/// accesses), the x2APIC MSRs 0x800-0x8FF, IA32_APIC_BASE (0x1B) and IA32_TSC_DEADLINE (0x6E0) through
/// <see cref="IModelSpecificRegisterHandler"/>. The core takes interrupts through <see cref="IInterruptSource"/>.
/// </para>
/// <para>
/// Threads: other vCPUs (IPIs), the IOAPIC and MSI senders call in through the <see cref="ApicBus"/> from any thread;
/// everything is guarded by one lock, and the APIC never holds it while calling the bus (IPIs, EOI broadcasts), so
/// locks are only ever taken IOAPIC, then one local APIC. Accepting anything sets the core's
/// <see cref="CpuCore.InterruptCheckRequested"/> and wakes a vCPU sleeping in <see cref="WaitWhileHalted"/>.
/// </para>
/// <para>
/// Timer: counts the APIC bus clock of <see cref="ApicClock"/> divided by the divide configuration; deadlines are
/// kept in guest TSC ticks. The vCPU loop calls <see cref="FireDueTimers"/> between run slices and may sleep until
/// <see cref="NextTimerDeadline"/>; there is no timer thread.
/// </para>
/// Not modelled: SMI, ExtINT (there is no 8259 behind LINT0), the LINT pins, CMCI, directed EOI, focus processor
/// checking. Fixed and lowest-priority interrupts reaching a software-disabled APIC are dropped (NMI, INIT and
/// start-up IPIs are still taken); interrupts accepted before it was disabled stay pending and deliverable.
/// </summary>
public sealed class LocalApic : IBusDevice, IModelSpecificRegisterHandler, IInterruptSource
{
    /// <summary>Timer, thermal, performance counter, LINT0, LINT1, error.</summary>
    public const int LvtCount = 6;
    /// <summary>Integrated APIC version 0x14 with the highest LVT index (5) in bits 23:16, as KVM reports without CMCI.</summary>
    public const uint VersionValue = 0x14 | ((LvtCount - 1) << 16);
    public const ulong DefaultBase = 0xFEE0_0000;

    public const ulong ApicBaseBootstrap = 1 << 8, ApicBaseX2ApicEnable = 1 << 10, ApicBaseGlobalEnable = 1 << 11;
    private const ulong ApicBasePageMask = ~0xFFFUL;
    private const ulong ApicBaseAlwaysReserved = 0x2FF;

    public const uint LvtMasked = 1 << 16, LvtDeliveryStatus = 1 << 12, LvtRemoteIrr = 1 << 14;
    public const uint SvrSoftwareEnable = 1 << 8;
    private const uint SvrWritableMask = 0x3FF;
    public const int TimerModeOneShot = 0, TimerModePeriodic = 1, TimerModeTscDeadline = 2;

    // Bits of the error status register.
    public const uint ErrorSendIllegalVector = 1 << 5, ErrorReceiveIllegalVector = 1 << 6;

    private const uint IcrLowWritableMask = 0x000C_CFFF;      // vector, delivery/destination mode, level, trigger, shorthand
    /// <summary>x2APIC ICR bits that are reserved (a WRMSR setting one raises #GP): 13, 17:16, 31:20.</summary>
    private const ulong X2ApicIcrReserved = (1UL << 13) | (3UL << 16) | (0xFFFUL << 20);
    private const uint XApicIdMask = 0xFF00_0000;
    private const uint DfrWritableMask = 0xF000_0000;
    private const uint DivideConfigMask = 0xB;

    private const int LvtTimer = 0, LvtThermal = 1, LvtPerformance = 2, LvtLint0 = 3, LvtLint1 = 4, LvtError = 5;

    private readonly Lock _lock = new();
    private readonly ApicBus _bus;
    private readonly CpuCore _cpu;
    private readonly ApicClock _clock;
    private readonly ManualResetEventSlim _wake = new(false, spinCount: 1);

    // Registers.
    private ulong _apicBase;
    private uint _id, _tpr, _ldr, _dfr, _svr, _esr, _pendingErrors, _icrLow, _icrHigh, _initialCount, _divideConfig;
    private readonly uint[] _lvt = new uint[LvtCount];
    private readonly ulong[] _irr = new ulong[4], _isr = new ulong[4], _tmr = new ulong[4];

    // Timer: one-shot/periodic deadline and period in TSC ticks; the TSC-deadline MSR.
    private bool _timerArmed;
    private ulong _timerDeadline, _timerPeriod, _tscDeadline;
    /// <summary>The deadline of whichever timer mode is active (MaxValue if none), readable without the lock for the vCPU loop's polls.</summary>
    private ulong _nextDeadline = ulong.MaxValue;

    // Events for the vCPU loop.
    private bool _nmiPending, _initPending, _waitingForStartup;
    private int _startupVector = -1;

    /// <param name="bus">The VM's APIC bus; the new APIC joins it.</param>
    /// <param name="cpu">The core this APIC interrupts (its InterruptCheckRequested flag is set on new work).</param>
    /// <param name="apicId">The initial APIC ID (CPUID's), unique on the bus; xAPIC mode sees its low 8 bits.</param>
    /// <param name="bootstrap">The bootstrap processor (IA32_APIC_BASE bit 8).</param>
    /// <param name="clock">The guest TSC and the frequencies the timer uses.</param>
    public LocalApic(ApicBus bus, CpuCore cpu, uint apicId, bool bootstrap, ApicClock clock)
    {
        ArgumentNullException.ThrowIfNull(bus);
        ArgumentNullException.ThrowIfNull(cpu);
        ArgumentNullException.ThrowIfNull(clock);
        if (apicId == uint.MaxValue) throw new ArgumentOutOfRangeException(nameof(apicId), "0xFFFFFFFF is the x2APIC broadcast");
        _bus = bus;
        _cpu = cpu;
        _clock = clock;
        InitialApicId = apicId;
        IsBootstrapProcessor = bootstrap;
        ResetRegisters();
        _apicBase = PowerOnApicBase;
        _id = XApicId;
        bus.Attach(this);
    }

    public uint InitialApicId { get; }
    /// <summary>Whether this was created as the bootstrap processor (the APIC_BASE BSP bit at power-on).</summary>
    public bool IsBootstrapProcessor { get; }
    public ApicClock Clock => _clock;

    private ulong PowerOnApicBase => DefaultBase | ApicBaseGlobalEnable | (IsBootstrapProcessor ? ApicBaseBootstrap : 0);
    private uint XApicId => (InitialApicId & 0xFF) << 24;

    /// <summary>Raised (outside the APIC's lock) when <see cref="MmioBase"/> or <see cref="IsMmioEnabled"/> changed: the engine moves or removes the page.</summary>
    public event Action<LocalApic>? MmioMappingChanged;

    public ulong ApicBase { get { lock (_lock) return _apicBase; } }
    /// <summary>The guest-physical address of the xAPIC page.</summary>
    public ulong MmioBase => ApicBase & ApicBasePageMask & PhysicalAddressMask;
    /// <summary>The page answers only in xAPIC mode: enabled, not x2APIC.</summary>
    public bool IsMmioEnabled => (ApicBase & (ApicBaseGlobalEnable | ApicBaseX2ApicEnable)) == ApicBaseGlobalEnable;
    public bool IsHardwareEnabled => (ApicBase & ApicBaseGlobalEnable) != 0;
    public bool IsX2ApicMode => (ApicBase & ApicBaseX2ApicEnable) != 0;
    public bool IsSoftwareEnabled { get { lock (_lock) return (_svr & SvrSoftwareEnable) != 0; } }

    private ulong PhysicalAddressMask => (1UL << _bus.PhysicalAddressBits) - 1;
    private bool HardwareEnabled => (_apicBase & ApicBaseGlobalEnable) != 0;
    private bool X2ApicMode => (_apicBase & ApicBaseX2ApicEnable) != 0;
    private bool SoftwareEnabled => (_svr & SvrSoftwareEnable) != 0;
    private int TimerMode => (int)((_lvt[LvtTimer] >> 17) & 3);

    // ---------------------------------------------------------------- IInterruptSource

    public bool HasDeliverable
    {
        get { lock (_lock) return HighestDeliverable() >= 0; }
    }

    public bool TryAcknowledge(out byte vector)
    {
        lock (_lock)
        {
            int v = HighestDeliverable();
            if (v < 0)
            {
                vector = 0;
                return false;
            }
            ClearBit(_irr, v);
            SetBit(_isr, v);
            vector = (byte)v;
            return true;
        }
    }

    public byte TaskPriority
    {
        get { lock (_lock) return (byte)_tpr; }
        set
        {
            bool deliverable;
            lock (_lock)
            {
                _tpr = value;
                deliverable = HighestDeliverable() >= 0;
            }
            if (deliverable) _cpu.InterruptCheckRequested = true;
        }
    }

    /// <summary>The IRR vector the core may take now (its priority class above PPR's), or -1.</summary>
    private int HighestDeliverable()
    {
        if (!HardwareEnabled) return -1;
        int v = HighestBit(_irr);
        if (v < 0 || (v & 0xF0) <= (ProcessorPriority() & 0xF0)) return -1;
        return v;
    }

    private uint ProcessorPriority()
    {
        int isrv = Math.Max(HighestBit(_isr), 0);
        return (_tpr >> 4) >= ((uint)isrv >> 4) ? _tpr : (uint)isrv & 0xF0;
    }

    private uint ArbitrationPriority()
    {
        int highest = Math.Max(Math.Max(HighestBit(_isr), HighestBit(_irr)), 0);
        return (_tpr & 0xF0) >= ((uint)highest & 0xF0) ? _tpr : (uint)highest & 0xF0;
    }

    // ---------------------------------------------------------------- Events for the vCPU loop

    /// <summary>Takes a pending NMI (from an IPI, an MSI or the IOAPIC): the core delivers vector 2.</summary>
    public bool TryTakeNmi()
    {
        lock (_lock)
        {
            if (!_nmiPending) return false;
            _nmiPending = false;
            return true;
        }
    }

    /// <summary>
    /// Takes a pending INIT: the APIC resets its registers (keeping its ID and APIC_BASE), forgets a pending NMI, and
    /// waits for a start-up IPI. The engine resets the vCPU and keeps it stopped until <see cref="TryTakeStartup"/>.
    /// </summary>
    public bool TryTakeInit()
    {
        lock (_lock)
        {
            if (!_initPending) return false;
            _initPending = false;
            _nmiPending = false;
            _waitingForStartup = true;
            ResetRegisters();
            _id = X2ApicMode ? InitialApicId : XApicId;
            if (X2ApicMode) _ldr = X2ApicLogicalId(InitialApicId);
            return true;
        }
    }

    /// <summary>
    /// Takes a start-up IPI received while waiting for one (after INIT): the engine starts the vCPU in real mode at
    /// CS = vector &lt;&lt; 8, IP = 0 (address vector * 0x1000). Later start-up IPIs are ignored until the next INIT.
    /// </summary>
    public bool TryTakeStartup(out byte vector)
    {
        lock (_lock)
        {
            if (_startupVector < 0 || _initPending)
            {
                vector = 0;
                return false;
            }
            vector = (byte)_startupVector;
            _startupVector = -1;
            _waitingForStartup = false;
            return true;
        }
    }

    public bool NmiPending { get { lock (_lock) return _nmiPending; } }
    public bool InitPending { get { lock (_lock) return _initPending; } }
    public bool StartupPending { get { lock (_lock) return _startupVector >= 0; } }
    /// <summary>INIT was taken and no start-up IPI yet: the vCPU must not run.</summary>
    public bool WaitingForStartup { get { lock (_lock) return _waitingForStartup; } }

    /// <summary>A handle that is set whenever the APIC accepted something (or <see cref="Kick"/> was called).</summary>
    public WaitHandle WakeHandle => _wake.WaitHandle;

    /// <summary>Wakes a vCPU sleeping in <see cref="WaitWhileHalted"/> (e.g. to pause or stop the VM).</summary>
    public void Kick() => _wake.Set();

    /// <summary>
    /// Sleeps the calling vCPU thread while its core is halted, at most <paramref name="maxWait"/> and never past the
    /// next timer deadline, firing due timers before and after. True when the core has something to do: a
    /// deliverable interrupt (only counted if <paramref name="interruptsEnabled"/>, RFLAGS.IF), an NMI, an INIT or a
    /// start-up IPI; false after a timeout or a <see cref="Kick"/> (the caller checks its own stop flags and calls again).
    /// </summary>
    public bool WaitWhileHalted(bool interruptsEnabled, TimeSpan maxWait)
    {
        _wake.Reset();
        ulong now = _clock.ReadTimeStampCounter();
        FireDueTimers(now);
        if (HasWakeEvent(interruptsEnabled)) return true;
        TimeSpan wait = maxWait;
        ulong deadline = NextTimerDeadline;
        if (deadline != ulong.MaxValue)
        {
            TimeSpan untilTimer = _clock.TscToWaitTime(deadline > now ? deadline - now : 0);
            if (untilTimer < wait) wait = untilTimer;
        }
        if (wait > TimeSpan.Zero) _wake.Wait(wait);
        FireDueTimers(_clock.ReadTimeStampCounter());
        return HasWakeEvent(interruptsEnabled);
    }

    private bool HasWakeEvent(bool interruptsEnabled)
    {
        lock (_lock)
            return _nmiPending || _initPending || _startupVector >= 0 || (interruptsEnabled && HighestDeliverable() >= 0);
    }

    private void Notify()
    {
        _cpu.InterruptCheckRequested = true;
        _wake.Set();
    }

    // ---------------------------------------------------------------- Acceptance (from the bus, any thread)

    /// <summary>Takes one interrupt message addressed to this APIC; false when it was dropped.</summary>
    internal bool Accept(InterruptDeliveryMode mode, byte vector, bool levelTriggered, bool asserted = true)
    {
        lock (_lock)
        {
            if (!HardwareEnabled) return false;
            switch (mode)
            {
                case InterruptDeliveryMode.Fixed:
                case InterruptDeliveryMode.LowestPriority:
                    if (!SoftwareEnabled) return false;
                    if (vector < 16)
                    {
                        if (RecordError(ErrorReceiveIllegalVector)) _cpu.InterruptCheckRequested = true;
                        return false;
                    }
                    SetBit(_irr, vector);
                    if (levelTriggered) SetBit(_tmr, vector); else ClearBit(_tmr, vector);
                    break;
                case InterruptDeliveryMode.Nmi:
                    _nmiPending = true;
                    break;
                case InterruptDeliveryMode.Init:
                    // "INIT level de-assert" (level-triggered, level 0) only synchronised arbitration IDs on old APICs.
                    if (levelTriggered && !asserted) return false;
                    _initPending = true;
                    _startupVector = -1;
                    break;
                case InterruptDeliveryMode.Startup:
                    if (!(_initPending || _waitingForStartup) || _startupVector >= 0) return false;
                    _startupVector = vector;
                    break;
                default:
                    return false; // SMI, ExtINT and the reserved mode have no receiver here
            }
        }
        Notify();
        return true;
    }

    /// <summary>Whether a message with <paramref name="destination"/> reaches this APIC (see <see cref="ApicBus"/>).</summary>
    /// <param name="x2ApicFormat">The destination is a 32-bit x2APIC one (from an x2APIC ICR); otherwise 8-bit xAPIC format.</param>
    internal bool MatchesDestination(uint destination, bool logical, bool x2ApicFormat)
    {
        lock (_lock)
        {
            if (!HardwareEnabled) return false;
            bool broadcast = destination == uint.MaxValue || (!x2ApicFormat && (destination & 0xFF) == 0xFF);
            if (broadcast) return true;
            if (X2ApicMode)
            {
                if (!logical) return destination == _id;
                return (destination >> 16) == (_ldr >> 16) && (destination & _ldr & 0xFFFF) != 0;
            }
            uint destination8 = destination & 0xFF;
            if (x2ApicFormat && destination > 0xFF) return false;
            if (!logical) return destination8 == _id >> 24;
            uint logicalId = _ldr >> 24;
            if ((_dfr >> 28) == 0xF) return (logicalId & destination8) != 0;             // flat model
            return (destination8 >> 4) == (logicalId >> 4) && (destination8 & logicalId & 0xF) != 0; // cluster model
        }
    }

    /// <summary>The arbitration priority class lowest-priority delivery compares, or null if this APIC cannot take fixed interrupts.</summary>
    internal uint? LowestPriorityRank()
    {
        lock (_lock)
            return HardwareEnabled && SoftwareEnabled ? _tpr & 0xF0 : null;
    }

    /// <summary>An ICR that sent an illegal vector (0-15) with fixed or lowest-priority delivery.</summary>
    internal void RecordSendError()
    {
        bool raised;
        lock (_lock) raised = RecordError(ErrorSendIllegalVector);
        if (raised) Notify();
    }

    /// <summary>Latches an error for ESR and raises the LVT error interrupt; true if that set an IRR bit.</summary>
    private bool RecordError(uint error)
    {
        _pendingErrors |= error;
        uint lvt = _lvt[LvtError];
        if ((lvt & LvtMasked) != 0 || (byte)lvt < 16) return false;
        SetBit(_irr, (byte)lvt);
        ClearBit(_tmr, (byte)lvt);
        return true;
    }

    /// <summary>Raises the interrupt an LVT entry describes; true if it made work for the core.</summary>
    private bool RaiseLocal(int lvtIndex)
    {
        uint lvt = _lvt[lvtIndex];
        if ((lvt & LvtMasked) != 0) return false;
        var mode = lvtIndex is LvtTimer or LvtError ? InterruptDeliveryMode.Fixed : (InterruptDeliveryMode)((lvt >> 8) & 7);
        byte vector = (byte)lvt;
        switch (mode)
        {
            case InterruptDeliveryMode.Fixed:
                if (vector < 16) return RecordError(ErrorReceiveIllegalVector);
                SetBit(_irr, vector);
                ClearBit(_tmr, vector);
                return true;
            case InterruptDeliveryMode.Nmi:
                _nmiPending = true;
                return true;
            default:
                return false;
        }
    }

    // ---------------------------------------------------------------- Timer

    /// <summary>The guest TSC at which the next timer fires, or <see cref="ulong.MaxValue"/> when no timer is armed.</summary>
    public ulong NextTimerDeadline => Volatile.Read(ref _nextDeadline);

    /// <summary>Recomputes <see cref="_nextDeadline"/>; called under the lock after any change of the timer's state.</summary>
    private void RefreshDeadline()
    {
        ulong next = TimerMode == TimerModeTscDeadline
            ? (_tscDeadline != 0 ? _tscDeadline : ulong.MaxValue)
            : (_timerArmed ? _timerDeadline : ulong.MaxValue);
        Volatile.Write(ref _nextDeadline, next);
    }

    /// <summary>
    /// Fires the timer if it is due at guest TSC <paramref name="now"/>: sets the LVT timer vector in IRR (unless
    /// masked), re-arms a periodic timer (periods missed while nobody polled are coalesced into this one interrupt)
    /// and disarms a one-shot or TSC-deadline timer. True if an interrupt was raised.
    /// </summary>
    public bool FireDueTimers(ulong now)
    {
        if (now < Volatile.Read(ref _nextDeadline)) return false; // the common case: nothing due, no lock
        bool raised = false;
        lock (_lock)
        {
            if (TimerMode == TimerModeTscDeadline)
            {
                if (_tscDeadline != 0 && now >= _tscDeadline)
                {
                    _tscDeadline = 0;
                    raised = RaiseLocal(LvtTimer);
                }
            }
            else if (_timerArmed && now >= _timerDeadline)
            {
                if (TimerMode == TimerModePeriodic)
                {
                    ulong missed = (now - _timerDeadline) / _timerPeriod + 1;
                    _timerDeadline = SaturatingAdd(_timerDeadline, missed * _timerPeriod);
                }
                else
                {
                    _timerArmed = false;
                }
                raised = RaiseLocal(LvtTimer);
            }
            RefreshDeadline();
        }
        if (raised) Notify();
        return raised;
    }

    private uint Divisor()
    {
        uint code = ((_divideConfig & 8) >> 1) | (_divideConfig & 3);
        return code == 7 ? 1u : 2u << (int)code;
    }

    private void StartTimer(ulong now, ulong counts)
    {
        if (_initialCount == 0 || counts == 0)
        {
            _timerArmed = false;
        }
        else
        {
            uint divisor = Divisor();
            _timerPeriod = Math.Max(_clock.CountsToTsc(_initialCount, divisor), 1);
            _timerDeadline = SaturatingAdd(now, Math.Max(_clock.CountsToTsc(counts, divisor), 1));
            _timerArmed = true;
        }
        RefreshDeadline();
    }

    private uint CurrentCount(ulong now)
    {
        if (TimerMode == TimerModeTscDeadline || !_timerArmed) return 0;
        ulong remaining;
        if (now < _timerDeadline) remaining = _timerDeadline - now;
        else if (TimerMode == TimerModePeriodic) remaining = _timerPeriod - (now - _timerDeadline) % _timerPeriod;
        else return 0;
        return (uint)Math.Min(_clock.TscToCounts(remaining, Divisor()), _initialCount);
    }

    private static ulong SaturatingAdd(ulong a, ulong b) => a + b < a ? ulong.MaxValue : a + b;

    // ---------------------------------------------------------------- xAPIC MMIO

    public void Read(ulong offset, Span<byte> data)
    {
        uint value = 0;
        int within = (int)(offset & 0xF);
        if (offset < R.MmioSize && within < 4 && IsMmioEnabled)
            lock (_lock) value = ReadRegister((int)(offset & 0xFF0));
        for (int i = 0; i < data.Length; i++)
            data[i] = within + i < 4 ? (byte)(value >> (8 * (within + i))) : (byte)0;
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        // Registers are 32 bits on 16-byte boundaries; other widths and offsets are ignored, as KVM does.
        if (data.Length != 4 || (offset & 0xF) != 0 || offset >= R.MmioSize || !IsMmioEnabled) return;
        int register = (int)offset;
        if (register is R.Id or R.LogicalDestination or R.DestinationFormat or R.InterruptCommandHigh)
        {
            WriteXApicOnly(register, BinaryPrimitives.ReadUInt32LittleEndian(data));
            return;
        }
        uint value = BinaryPrimitives.ReadUInt32LittleEndian(data);
        if (register == R.InterruptCommandLow)
        {
            uint destination;
            lock (_lock)
            {
                _icrLow = value & IcrLowWritableMask;
                destination = _icrHigh >> 24;
            }
            SendIpi(value, destination);
            return;
        }
        WriteCommon(register, value);
    }

    private void WriteXApicOnly(int register, uint value)
    {
        lock (_lock)
        {
            switch (register)
            {
                case R.Id: _id = value & XApicIdMask; break;
                case R.LogicalDestination: _ldr = value & XApicIdMask; break;
                case R.DestinationFormat: _dfr = value & DfrWritableMask; break;
                case R.InterruptCommandHigh: _icrHigh = value & XApicIdMask; break;
            }
        }
    }

    /// <summary>The value the guest reads at an xAPIC offset (also what the x2APIC MSRs and the saved page hold).</summary>
    private uint ReadRegister(int register)
    {
        switch (register)
        {
            case R.Id: return _id;
            case R.Version: return VersionValue;
            case R.TaskPriority: return _tpr;
            case R.ArbitrationPriority: return ArbitrationPriority();
            case R.ProcessorPriority: return ProcessorPriority();
            case R.LogicalDestination: return _ldr;
            case R.DestinationFormat: return _dfr | ~DfrWritableMask;
            case R.SpuriousVector: return _svr;
            case R.ErrorStatus: return _esr;
            case R.InterruptCommandLow: return _icrLow;           // delivery status always reads idle
            case R.InterruptCommandHigh: return _icrHigh;
            case R.TimerInitialCount: return _initialCount;
            case R.TimerCurrentCount: return CurrentCount(_clock.ReadTimeStampCounter());
            case R.TimerDivideConfiguration: return _divideConfig;
        }
        if (register >= R.LvtTimer && register <= R.LvtError) return _lvt[(register - R.LvtTimer) >> 4];
        if (register >= R.InService && register < R.InterruptRequest + 0x80)
        {
            var bitmap = register < R.TriggerMode ? _isr : register < R.InterruptRequest ? _tmr : _irr;
            int word = ((register - R.InService) >> 4) & 7;
            return (uint)(bitmap[word >> 1] >> (32 * (word & 1)));
        }
        return 0; // EOI, remote read, reserved offsets
    }

    /// <summary>Writes that behave the same in xAPIC and x2APIC mode (values already checked for x2APIC's reserved bits).</summary>
    private void WriteCommon(int register, uint value)
    {
        int endOfInterruptVector = -1;
        bool notify = false;
        lock (_lock)
        {
            switch (register)
            {
                case R.TaskPriority:
                    _tpr = value & 0xFF;
                    notify = HighestDeliverable() >= 0;
                    break;
                case R.EndOfInterrupt:
                    int v = HighestBit(_isr);
                    if (v >= 0)
                    {
                        ClearBit(_isr, v);
                        if (TestBit(_tmr, v)) endOfInterruptVector = v;
                        notify = HighestDeliverable() >= 0;
                    }
                    break;
                case R.SpuriousVector:
                    _svr = value & SvrWritableMask;
                    if (!SoftwareEnabled)
                        for (int i = 0; i < LvtCount; i++) _lvt[i] |= LvtMasked;
                    notify = HighestDeliverable() >= 0;
                    break;
                case R.ErrorStatus:
                    // A write latches the errors seen since the last one, which reads then return.
                    _esr = _pendingErrors;
                    _pendingErrors = 0;
                    break;
                case R.TimerInitialCount:
                    if (TimerMode == TimerModeTscDeadline) break; // ignored in TSC-deadline mode
                    _initialCount = value;
                    StartTimer(_clock.ReadTimeStampCounter(), value);
                    break;
                case R.TimerDivideConfiguration:
                    WriteDivideConfiguration(value);
                    break;
                case >= R.LvtTimer and <= R.LvtError when (register & 0xF) == 0:
                    WriteLvt((register - R.LvtTimer) >> 4, value);
                    break;
                // ID, version, PPR, APR, ISR/TMR/IRR, current count: read-only, writes ignored.
            }
        }
        if (endOfInterruptVector >= 0) _bus.BroadcastEndOfInterrupt((byte)endOfInterruptVector);
        if (notify) _cpu.InterruptCheckRequested = true;
    }

    private void WriteDivideConfiguration(uint value)
    {
        ulong now = _clock.ReadTimeStampCounter();
        uint remaining = CurrentCount(now);
        bool running = _timerArmed && TimerMode != TimerModeTscDeadline;
        _divideConfig = value & DivideConfigMask;
        // A running count keeps going at the new rate from where it is.
        if (running) StartTimer(now, remaining == 0 ? _initialCount : remaining);
    }

    private uint LvtWritableMask(int index) => index switch
    {
        LvtTimer => 0xFF | LvtMasked | (_bus.TscDeadlineSupported ? 3u << 17 : 1u << 17),
        LvtThermal or LvtPerformance => 0xFF | 0x700 | LvtMasked,
        LvtLint0 or LvtLint1 => 0xFF | 0x700 | (1 << 13) | (1 << 15) | LvtMasked,
        _ => 0xFF | LvtMasked,
    };

    private void WriteLvt(int index, uint value)
    {
        uint entry = value & LvtWritableMask(index);
        if (!SoftwareEnabled) entry |= LvtMasked;
        if (index == LvtTimer)
        {
            int oldMode = TimerMode;
            int newMode = (int)((entry >> 17) & 3);
            if (newMode == 3) // reserved: the mode stays as it was
            {
                newMode = oldMode;
                entry = (entry & ~(3u << 17)) | ((uint)oldMode << 17);
            }
            // Switching into or out of TSC-deadline mode disarms the timer (SDM 10.5.4.1).
            if ((oldMode == TimerModeTscDeadline) != (newMode == TimerModeTscDeadline))
            {
                _timerArmed = false;
                _initialCount = 0;
                _tscDeadline = 0;
            }
        }
        _lvt[index] = entry;
        if (index == LvtTimer) RefreshDeadline();
    }

    private void SendIpi(uint icrLow, uint destination)
    {
        _bus.SendInterProcessorInterrupt(this, icrLow, destination);
    }

    // ---------------------------------------------------------------- MSRs

    public bool TryRead(uint index, out ulong value)
    {
        value = 0;
        if (index == R.ApicBaseMsr)
        {
            value = ApicBase;
            return true;
        }
        if (index == R.TscDeadlineMsr)
        {
            if (!_bus.TscDeadlineSupported) return false;
            lock (_lock) value = TimerMode == TimerModeTscDeadline ? _tscDeadline : 0;
            return true;
        }
        if (index < R.X2ApicMsrBase || index > R.X2ApicMsrEnd) return false;
        int register = (int)(index - R.X2ApicMsrBase) << 4;
        lock (_lock)
        {
            if (!X2ApicMode) return false;
            switch (register)
            {
                case R.InterruptCommandLow:
                    value = _icrLow | ((ulong)_icrHigh << 32);
                    return true;
                case R.Id or R.Version or R.TaskPriority or R.ProcessorPriority or R.LogicalDestination or R.SpuriousVector
                    or R.ErrorStatus or R.TimerInitialCount or R.TimerCurrentCount or R.TimerDivideConfiguration:
                case >= R.InService and < R.InterruptRequest + 0x80:
                case >= R.LvtTimer and <= R.LvtError:
                    value = ReadRegister(register);
                    return true;
                default:
                    return false; // APR, EOI, RRD, DFR, 0x831, CMCI, SELF IPI (write-only) and reserved: #GP
            }
        }
    }

    public bool TryWrite(uint index, ulong value)
    {
        if (index == R.ApicBaseMsr) return TrySetApicBase(value);
        if (index == R.TscDeadlineMsr)
        {
            if (!_bus.TscDeadlineSupported) return false;
            bool raised = false;
            lock (_lock)
            {
                // Ignored unless the timer is in TSC-deadline mode; 0 disarms; a past deadline fires at once.
                if (TimerMode == TimerModeTscDeadline)
                {
                    _tscDeadline = value;
                    if (value != 0 && _clock.ReadTimeStampCounter() >= value)
                    {
                        _tscDeadline = 0;
                        raised = RaiseLocal(LvtTimer);
                    }
                    RefreshDeadline();
                }
            }
            if (raised) Notify();
            return true;
        }
        if (index < R.X2ApicMsrBase || index > R.X2ApicMsrEnd || !IsX2ApicMode) return false;
        int register = (int)(index - R.X2ApicMsrBase) << 4;
        // The upper 32 bits are reserved in every x2APIC MSR but the ICR.
        if (register != R.InterruptCommandLow && (value >> 32) != 0) return false;
        uint low = (uint)value;
        switch (register)
        {
            case R.TaskPriority when low > 0xFF:
            case R.EndOfInterrupt or R.ErrorStatus when low != 0:
            case R.SpuriousVector when (low & ~SvrWritableMask) != 0:
            case R.TimerDivideConfiguration when (low & ~DivideConfigMask) != 0:
            case R.SelfIpi when low > 0xFF:
                return false;
            case R.TaskPriority or R.EndOfInterrupt or R.ErrorStatus or R.SpuriousVector or R.TimerInitialCount
                or R.TimerDivideConfiguration:
                WriteCommon(register, low);
                return true;
            case >= R.LvtTimer and <= R.LvtError:
                int lvtIndex = (register - R.LvtTimer) >> 4;
                if ((low & ~(LvtWritableMask(lvtIndex) | LvtDeliveryStatus | LvtRemoteIrr)) != 0) return false;
                WriteCommon(register, low);
                return true;
            case R.InterruptCommandLow:
                if ((value & X2ApicIcrReserved) != 0) return false;
                lock (_lock)
                {
                    _icrLow = low & IcrLowWritableMask & ~LvtDeliveryStatus;
                    _icrHigh = (uint)(value >> 32);
                }
                SendIpi(low, (uint)(value >> 32));
                return true;
            case R.SelfIpi:
                _bus.SendInterProcessorInterrupt(this, low | (1u << 18), 0); // fixed, edge, shorthand "self"
                return true;
            default:
                return false; // read-only (ID, version, PPR, LDR, ISR, TMR, IRR, current count) and reserved: #GP
        }
    }

    /// <summary>
    /// A guest write to IA32_APIC_BASE (SDM 10.12.5): reserved bits (0-7, 9, above MAXPHYADDR, x2APIC enable when not
    /// supported) and the transitions disabled -> x2APIC, x2APIC -> xAPIC and the invalid state (x2APIC without
    /// enable) are refused (#GP). Disabling resets the APIC; entering x2APIC mode switches to the 32-bit ID and the
    /// derived LDR.
    /// </summary>
    public bool TrySetApicBase(ulong value)
    {
        ulong reserved = ApicBaseAlwaysReserved | ~PhysicalAddressMask | (_bus.X2ApicSupported ? 0 : ApicBaseX2ApicEnable);
        if ((value & reserved) != 0) return false;
        bool changed;
        lock (_lock)
        {
            bool wasEnabled = HardwareEnabled, wasX2 = X2ApicMode;
            bool enable = (value & ApicBaseGlobalEnable) != 0, x2 = (value & ApicBaseX2ApicEnable) != 0;
            if (x2 && !enable) return false;
            if (wasX2 && enable && !x2) return false;
            if (!wasEnabled && x2) return false;
            changed = ApplyApicBase(value);
        }
        if (changed) MmioMappingChanged?.Invoke(this);
        return true;
    }

    /// <summary>Sets APIC_BASE with the side effects of the mode change; true if the MMIO page moved or (dis)appeared.</summary>
    private bool ApplyApicBase(ulong value)
    {
        ulong old = _apicBase;
        bool wasEnabled = HardwareEnabled, wasX2 = X2ApicMode;
        _apicBase = value;
        bool enable = HardwareEnabled, x2 = X2ApicMode;
        if (wasEnabled && !enable)
        {
            // A disabled APIC loses its state; enabling it again starts from the power-on values.
            ResetRegisters();
            _id = XApicId;
        }
        else if (!wasEnabled && enable)
        {
            _id = XApicId;
        }
        if (x2 && !wasX2)
        {
            _id = InitialApicId;
            _ldr = X2ApicLogicalId(InitialApicId);
        }
        bool oldMmio = (old & (ApicBaseGlobalEnable | ApicBaseX2ApicEnable)) == ApicBaseGlobalEnable;
        bool newMmio = enable && !x2;
        return oldMmio != newMmio || ((old ^ value) & ApicBasePageMask) != 0;
    }

    /// <summary>The x2APIC logical ID: cluster (ID bits 31:4) in bits 31:16, one bit for ID bits 3:0 below.</summary>
    public static uint X2ApicLogicalId(uint apicId) => ((apicId >> 4) << 16) | (1u << (int)(apicId & 0xF));

    // ---------------------------------------------------------------- Reset and state

    private void ResetRegisters()
    {
        _tpr = _ldr = _esr = _pendingErrors = _icrLow = _icrHigh = _initialCount = _divideConfig = 0;
        _dfr = DfrWritableMask;
        _svr = 0xFF;
        for (int i = 0; i < LvtCount; i++) _lvt[i] = LvtMasked;
        Array.Clear(_irr);
        Array.Clear(_isr);
        Array.Clear(_tmr);
        _timerArmed = false;
        _timerDeadline = _timerPeriod = _tscDeadline = 0;
        RefreshDeadline();
    }

    /// <summary>Power-on (machine) reset: registers, APIC_BASE, pending events.</summary>
    public void Reset()
    {
        bool changed;
        lock (_lock)
        {
            changed = _apicBase != PowerOnApicBase;
            ResetRegisters();
            _apicBase = PowerOnApicBase;
            _id = XApicId;
            _nmiPending = _initPending = _waitingForStartup = false;
            _startupVector = -1;
        }
        if (changed) MmioMappingChanged?.Invoke(this);
    }

    /// <summary>
    /// The register page in KVM's kvm_lapic_state layout (<see cref="LocalApicRegister"/> offsets, 32-bit little
    /// endian values): ID as 8 bits in 31:24 in xAPIC mode and the full 32-bit ID in x2APIC mode, ICR's destination at
    /// 0x310 in both modes, and the timer's current count at 0x390, which carries the running one-shot/periodic timer.
    /// </summary>
    public byte[] SaveState()
    {
        var page = new byte[R.PageSize];
        lock (_lock)
        {
            for (int register = R.Id; register <= R.TimerDivideConfiguration; register += 0x10)
                Put(page, register, ReadRegister(register));
        }
        return page;
    }

    /// <summary>
    /// Loads a register page saved by either engine. Restore the control state (APIC_BASE, which sets xAPIC or
    /// x2APIC mode) first. A one-shot or periodic timer resumes with the saved current count left, measured from now.
    /// </summary>
    public void RestoreState(byte[] page)
    {
        ArgumentNullException.ThrowIfNull(page);
        if (page.Length != R.PageSize) throw new ArgumentException($"a local APIC page has {R.PageSize} bytes", nameof(page));
        bool notify;
        lock (_lock)
        {
            bool x2 = X2ApicMode;
            _id = x2 ? Get(page, R.Id) : Get(page, R.Id) & XApicIdMask;
            _tpr = Get(page, R.TaskPriority) & 0xFF;
            _ldr = x2 ? Get(page, R.LogicalDestination) : Get(page, R.LogicalDestination) & XApicIdMask;
            _dfr = Get(page, R.DestinationFormat) & DfrWritableMask;
            _svr = Get(page, R.SpuriousVector) & SvrWritableMask;
            for (int word = 0; word < 8; word++)
            {
                int shift = 32 * (word & 1);
                ulong keep = ~(0xFFFF_FFFFUL << shift);
                _isr[word >> 1] = (_isr[word >> 1] & keep) | ((ulong)Get(page, R.InService + word * 0x10) << shift);
                _tmr[word >> 1] = (_tmr[word >> 1] & keep) | ((ulong)Get(page, R.TriggerMode + word * 0x10) << shift);
                _irr[word >> 1] = (_irr[word >> 1] & keep) | ((ulong)Get(page, R.InterruptRequest + word * 0x10) << shift);
            }
            // Vectors 0-15 can never be pending or in service.
            _isr[0] &= ~0xFFFFUL;
            _irr[0] &= ~0xFFFFUL;
            _esr = Get(page, R.ErrorStatus) & 0xFF;
            _pendingErrors = 0;
            _icrLow = Get(page, R.InterruptCommandLow) & IcrLowWritableMask & ~LvtDeliveryStatus;
            _icrHigh = x2 ? Get(page, R.InterruptCommandHigh) : Get(page, R.InterruptCommandHigh) & XApicIdMask;
            for (int i = 0; i < LvtCount; i++)
            {
                uint entry = Get(page, R.LvtTimer + i * 0x10) & LvtWritableMask(i);
                if (!SoftwareEnabled) entry |= LvtMasked;
                _lvt[i] = entry;
            }
            _divideConfig = Get(page, R.TimerDivideConfiguration) & DivideConfigMask;
            _initialCount = Get(page, R.TimerInitialCount);
            uint current = Math.Min(Get(page, R.TimerCurrentCount), _initialCount);
            _timerArmed = false;
            if (TimerMode != TimerModeTscDeadline)
            {
                // A periodic timer that was between periods restarts a full one.
                if (current == 0 && TimerMode == TimerModePeriodic) current = _initialCount;
                StartTimer(_clock.ReadTimeStampCounter(), current);
            }
            RefreshDeadline();
            notify = HighestDeliverable() >= 0;
        }
        if (notify) Notify();
    }

    public LocalApicControlState SaveControlState()
    {
        lock (_lock)
            return new LocalApicControlState
            {
                ApicBase = _apicBase,
                TscDeadline = _tscDeadline,
                NmiPending = _nmiPending,
                InitPending = _initPending,
                StartupVector = _startupVector,
                WaitingForStartup = _waitingForStartup,
            };
    }

    /// <summary>Loads APIC_BASE (without the guest's transition rules) and the pending events; call before <see cref="RestoreState"/>.</summary>
    public void RestoreControlState(LocalApicControlState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Version != LocalApicControlState.CurrentVersion)
            throw new ArgumentException($"local APIC control state version {state.Version} is not {LocalApicControlState.CurrentVersion}", nameof(state));
        if ((state.ApicBase & ApicBaseX2ApicEnable) != 0 && (state.ApicBase & ApicBaseGlobalEnable) == 0)
            throw new ArgumentException("x2APIC mode without the global enable is not a valid APIC_BASE", nameof(state));
        if (state.StartupVector is < -1 or > 0xFF) throw new ArgumentException("the start-up vector is 8 bits", nameof(state));
        bool changed, notify;
        lock (_lock)
        {
            ulong old = _apicBase;
            _apicBase = state.ApicBase & ~ApicBaseAlwaysReserved;
            _id = X2ApicMode ? InitialApicId : XApicId;
            if (X2ApicMode) _ldr = X2ApicLogicalId(InitialApicId);
            changed = old != _apicBase;
            _tscDeadline = state.TscDeadline;
            RefreshDeadline();
            _nmiPending = state.NmiPending;
            _initPending = state.InitPending;
            _startupVector = state.StartupVector;
            _waitingForStartup = state.WaitingForStartup;
            notify = _nmiPending || _initPending || _startupVector >= 0;
        }
        if (changed) MmioMappingChanged?.Invoke(this);
        if (notify) Notify();
    }

    private static void Put(byte[] page, int offset, uint value) => BinaryPrimitives.WriteUInt32LittleEndian(page.AsSpan(offset), value);
    private static uint Get(byte[] page, int offset) => BinaryPrimitives.ReadUInt32LittleEndian(page.AsSpan(offset));

    // ---------------------------------------------------------------- 256-bit vector bitmaps

    private static void SetBit(ulong[] bitmap, int vector) => bitmap[vector >> 6] |= 1UL << (vector & 63);
    private static void ClearBit(ulong[] bitmap, int vector) => bitmap[vector >> 6] &= ~(1UL << (vector & 63));
    private static bool TestBit(ulong[] bitmap, int vector) => (bitmap[vector >> 6] & (1UL << (vector & 63))) != 0;

    private static int HighestBit(ulong[] bitmap)
    {
        for (int i = 3; i >= 0; i--)
            if (bitmap[i] != 0) return i * 64 + 63 - BitOperations.LeadingZeroCount(bitmap[i]);
        return -1;
    }
}
