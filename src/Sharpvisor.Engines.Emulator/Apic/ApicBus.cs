using Sharpvisor.Machine.Devices.Interrupts;
using Sharpvisor.Machine.Interrupts;

namespace Sharpvisor.Engines.Emulator.Apic;

/// <summary>
/// The APIC bus of one emulated VM: holds its local APICs and routes interrupt messages between them: IPIs from ICR
/// writes, messages from the IOAPIC, MSIs; and carries EOIs of level-triggered vectors back to the IOAPIC. It is also
/// the VM's <see cref="IInterruptController"/> (GSIs go to the connected IOAPIC, MSIs are decoded here).
/// <para>
/// Destinations: physical (an APIC ID; 0xFF, or 0xFFFFFFFF from an x2APIC ICR, broadcasts) and logical (flat or
/// cluster model from each xAPIC's LDR/DFR; x2APIC cluster ID and 16-bit mask from the derived LDR). Lowest-priority
/// delivery picks the software-enabled APIC of the destination set with the lowest task-priority class, the
/// lowest-numbered (first attached) one on a tie. Messages from the IOAPIC and MSIs use the 8-bit xAPIC format
/// (no extended destination ID).
/// </para>
/// Thread-safe: the APIC list is an immutable array replaced on attach; each APIC guards itself.
/// </summary>
public sealed class ApicBus : IInterruptMessageSink, IInterruptController
{
    public const ulong MsiAddressBase = 0xFEE0_0000;
    private const int MsiDestinationShift = 12;
    private const ulong MsiRedirectionHint = 1 << 3, MsiLogicalDestination = 1 << 2;
    private const uint MsiDataLevelAssert = 1 << 14, MsiDataLevelTriggered = 1 << 15;

    private readonly Lock _attachLock = new();
    private LocalApic[] _apics = [];
    private IoApic? _ioApic;

    /// <summary>Whether IA32_APIC_BASE may enable x2APIC mode: match CPUID.1:ECX[21].</summary>
    public bool X2ApicSupported { get; init; } = true;
    /// <summary>Whether the LVT timer has TSC-deadline mode and MSR 0x6E0 exists: match CPUID.1:ECX[24].</summary>
    public bool TscDeadlineSupported { get; init; } = true;

    /// <summary>MAXPHYADDR (CPUID 0x80000008 EAX[7:0]): APIC_BASE bits above it are reserved.</summary>
    public int PhysicalAddressBits
    {
        get => _physicalAddressBits;
        init
        {
            ArgumentOutOfRangeException.ThrowIfLessThan(value, 32);
            ArgumentOutOfRangeException.ThrowIfGreaterThan(value, 52);
            _physicalAddressBits = value;
        }
    }
    private readonly int _physicalAddressBits = 52;

    public IReadOnlyList<LocalApic> LocalApics => _apics;
    public IoApic? IoApic => Volatile.Read(ref _ioApic);

    /// <summary>Called by the <see cref="LocalApic"/> constructor.</summary>
    internal void Attach(LocalApic apic)
    {
        lock (_attachLock)
        {
            foreach (var other in _apics)
                if (other.InitialApicId == apic.InitialApicId)
                    throw new ArgumentException($"APIC ID {apic.InitialApicId} is already on the bus", nameof(apic));
            _apics = [.. _apics, apic];
        }
    }

    /// <summary>Wires the IOAPIC: GSIs from <see cref="SetIrqLevel"/> go to it, and level-triggered EOIs come back to it.</summary>
    public void ConnectIoApic(IoApic ioApic)
    {
        ArgumentNullException.ThrowIfNull(ioApic);
        Volatile.Write(ref _ioApic, ioApic);
    }

    /// <summary>The APIC whose initial ID is <paramref name="apicId"/>, or null.</summary>
    public LocalApic? FindByApicId(uint apicId)
    {
        foreach (var apic in _apics)
            if (apic.InitialApicId == apicId) return apic;
        return null;
    }

    // ---------------------------------------------------------------- Sources

    /// <summary>A message from the IOAPIC (or any xAPIC-format source).</summary>
    public bool Deliver(in InterruptMessage message) =>
        Route(message.Destination, message.LogicalDestination, x2ApicFormat: false, message.DeliveryMode, message.Vector,
            message.LevelTriggered, asserted: true);

    public void SetIrqLevel(uint gsi, bool asserted) => IoApic?.SetIrqLevel(gsi, asserted);

    /// <summary>A message-signalled interrupt: a DWORD write of <paramref name="data"/> to <paramref name="address"/> in 0xFEExxxxx.</summary>
    public void SignalMsi(ulong address, uint data)
    {
        if (!TryDecodeMsi(address, data, out var message)) return;
        Deliver(message);
    }

    /// <summary>
    /// Decodes the x86 MSI format: address bits 31:20 = 0xFEE, 19:12 destination ID, bit 3 redirection hint, bit 2
    /// destination mode (1 logical); data bits 7:0 vector, 10:8 delivery mode, 14 level (assert), 15 trigger mode (1
    /// level). A redirection hint turns fixed delivery into lowest-priority arbitration among the destinations, as
    /// KVM does. False for an address outside the interrupt window or a level-triggered de-assert message, which
    /// carries no interrupt.
    /// </summary>
    public static bool TryDecodeMsi(ulong address, uint data, out InterruptMessage message)
    {
        message = default;
        if ((address & ~0xFFFFFUL) != MsiAddressBase) return false; // bits 63:20 must be 0xFEE
        bool level = (data & MsiDataLevelTriggered) != 0;
        if (level && (data & MsiDataLevelAssert) == 0) return false;
        var mode = (InterruptDeliveryMode)((data >> 8) & 7);
        if ((address & MsiRedirectionHint) != 0 && mode == InterruptDeliveryMode.Fixed) mode = InterruptDeliveryMode.LowestPriority;
        message = new InterruptMessage(
            Destination: (uint)((address >> MsiDestinationShift) & 0xFF),
            LogicalDestination: (address & MsiLogicalDestination) != 0,
            DeliveryMode: mode,
            Vector: (byte)data,
            LevelTriggered: level);
        return true;
    }

    /// <summary>
    /// An ICR write of <paramref name="source"/>: low half (vector, delivery mode, destination mode, level, trigger,
    /// shorthand) and the destination (8 bits in xAPIC mode, 32 in x2APIC mode).
    /// </summary>
    internal void SendInterProcessorInterrupt(LocalApic source, uint icrLow, uint destination)
    {
        var mode = (InterruptDeliveryMode)((icrLow >> 8) & 7);
        byte vector = (byte)icrLow;
        bool logical = (icrLow & (1 << 11)) != 0;
        bool asserted = (icrLow & (1 << 14)) != 0;
        bool levelTriggered = (icrLow & (1 << 15)) != 0;
        var shorthand = (IpiShorthand)((icrLow >> 18) & 3);
        if (mode is InterruptDeliveryMode.Fixed or InterruptDeliveryMode.LowestPriority && vector < 16) source.RecordSendError();
        // Only INIT distinguishes assert from de-assert; every other IPI is an assert.
        if (mode != InterruptDeliveryMode.Init) asserted = true;
        switch (shorthand)
        {
            case IpiShorthand.None:
                Route(destination, logical, source.IsX2ApicMode, mode, vector, levelTriggered, asserted);
                break;
            case IpiShorthand.Self:
                source.Accept(mode, vector, levelTriggered, asserted);
                break;
            case IpiShorthand.AllIncludingSelf:
            case IpiShorthand.AllExcludingSelf:
                var apics = _apics;
                if (mode == InterruptDeliveryMode.LowestPriority)
                {
                    PickLowestPriority(apics, shorthand == IpiShorthand.AllExcludingSelf ? source : null, uint.MaxValue, false, true)
                        ?.Accept(mode, vector, levelTriggered, asserted);
                    break;
                }
                foreach (var apic in apics)
                    if (shorthand == IpiShorthand.AllIncludingSelf || !ReferenceEquals(apic, source))
                        apic.Accept(mode, vector, levelTriggered, asserted);
                break;
        }
    }

    /// <summary>An EOI for a level-triggered vector: the IOAPIC clears Remote IRR (and re-delivers a still-asserted line).</summary>
    internal void BroadcastEndOfInterrupt(byte vector) => IoApic?.EndOfInterrupt(vector);

    private bool Route(uint destination, bool logical, bool x2ApicFormat, InterruptDeliveryMode mode, byte vector,
        bool levelTriggered, bool asserted)
    {
        var apics = _apics;
        if (mode == InterruptDeliveryMode.LowestPriority)
            return PickLowestPriority(apics, null, destination, logical, x2ApicFormat)
                ?.Accept(mode, vector, levelTriggered, asserted) ?? false;
        bool accepted = false;
        foreach (var apic in apics)
            if (apic.MatchesDestination(destination, logical, x2ApicFormat))
                accepted |= apic.Accept(mode, vector, levelTriggered, asserted);
        return accepted;
    }

    private static LocalApic? PickLowestPriority(LocalApic[] apics, LocalApic? excluded, uint destination, bool logical, bool x2ApicFormat)
    {
        LocalApic? best = null;
        uint bestRank = uint.MaxValue;
        foreach (var apic in apics)
        {
            if (ReferenceEquals(apic, excluded) || !apic.MatchesDestination(destination, logical, x2ApicFormat)) continue;
            if (apic.LowestPriorityRank() is not { } rank || rank >= bestRank) continue;
            best = apic;
            bestRank = rank;
        }
        return best;
    }
}
