using System.Buffers.Binary;
using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Devices.State;

namespace Sharpvisor.Machine.Devices.Interrupts;

/// <summary>
/// An 82093AA-style I/O APIC with 24 input pins (GSI 0-23), version 0x11, reached through IOREGSEL (offset 0x00) and
/// IOWIN (offset 0x10) in its MMIO window at 0xFEC00000. Each pin's redirection entry turns an asserted line into an
/// <see cref="InterruptMessage"/> for the local APICs, sent through an <see cref="IInterruptMessageSink"/>.
/// <para>
/// Edge-triggered pins send one message per rising edge while unmasked; an edge on a masked pin is lost, as the
/// datasheet specifies. Level-triggered pins send a message while the line is asserted, unmasked and Remote IRR is
/// clear, then set Remote IRR until a local APIC broadcasts the EOI for the vector (<see cref="EndOfInterrupt"/>); a
/// line still asserted then is delivered again. <see cref="SetIrqLevel"/> takes the logical level (asserted or not),
/// as <see cref="Interrupts.InterruptLine"/> drives it: the polarity bit is kept and read back for the guest, which
/// programs it to match the wiring the firmware tables describe, so it does not invert the line a second time (KVM
/// and QEMU do the same).
/// </para>
/// Guest accesses with bad indices, widths or offsets are ignored; nothing here throws because of the guest.
/// </summary>
public sealed class IoApic : IBusDevice, IStatefulDevice<IoApicState>
{
    public const ulong DefaultAddress = 0xFEC0_0000;
    /// <summary>The window the machine maps; only IOREGSEL and IOWIN answer inside it.</summary>
    public const ulong MmioSize = 0x1000;
    public const int PinCount = 24;
    public const ulong RegisterSelectOffset = 0x00, WindowOffset = 0x10;
    public const byte IdRegister = 0x00, VersionRegister = 0x01, ArbitrationRegister = 0x02, RedirectionTableBase = 0x10;
    /// <summary>Version 0x11 (82093AA) with the highest redirection entry index (23) in bits 23:16.</summary>
    public const uint VersionValue = 0x11 | ((PinCount - 1) << 16);

    public const ulong EntryVectorMask = 0xFF, EntryDeliveryModeMask = 0x700, EntryLogicalDestination = 1 << 11,
        EntryDeliveryStatus = 1 << 12, EntryActiveLow = 1 << 13, EntryRemoteIrr = 1 << 14, EntryLevelTriggered = 1 << 15,
        EntryMasked = 1 << 16;
    public const int EntryDestinationShift = 56;
    /// <summary>The bits a guest can write: vector, delivery mode, destination mode, polarity, trigger, mask and destination.</summary>
    public const ulong EntryWritableMask = EntryVectorMask | EntryDeliveryModeMask | EntryLogicalDestination | EntryActiveLow
        | EntryLevelTriggered | EntryMasked | (0xFFUL << EntryDestinationShift);

    private const int IdShift = 24;
    private const uint IdMask = 0xF;

    private readonly Lock _lock = new();
    private readonly IInterruptMessageSink _sink;
    private readonly ulong[] _entries = new ulong[PinCount];
    private byte _id;
    private byte _select;
    private uint _asserted;

    public IoApic(IInterruptMessageSink sink, byte id = 0)
    {
        ArgumentNullException.ThrowIfNull(sink);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(id, (byte)IdMask);
        _sink = sink;
        _id = id;
        for (int i = 0; i < PinCount; i++) _entries[i] = EntryMasked;
    }

    /// <summary>The IOAPIC ID the guest sees in register 0 (4 bits).</summary>
    public byte Id
    {
        get { lock (_lock) return _id; }
    }

    /// <summary>The redirection entry of <paramref name="pin"/> as the guest reads it.</summary>
    public ulong GetRedirectionEntry(int pin)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(pin);
        ArgumentOutOfRangeException.ThrowIfGreaterThanOrEqual(pin, PinCount);
        lock (_lock) return _entries[pin];
    }

    /// <summary>
    /// Drives input pin <paramref name="gsi"/> (safe from any thread). A GSI beyond the 24 pins is ignored: a device
    /// wired to nothing.
    /// </summary>
    public void SetIrqLevel(uint gsi, bool asserted)
    {
        if (gsi >= PinCount) return;
        uint bit = 1u << (int)gsi;
        lock (_lock)
        {
            bool was = (_asserted & bit) != 0;
            if (asserted) _asserted |= bit; else _asserted &= ~bit;
            if (!asserted) return;
            ulong entry = _entries[gsi];
            if ((entry & EntryLevelTriggered) != 0) ServiceLevel((int)gsi);
            else if (!was && (entry & EntryMasked) == 0) Send(entry);
        }
    }

    /// <summary>
    /// A local APIC's EOI for a level-triggered <paramref name="vector"/>: clears Remote IRR of every entry with that
    /// vector and delivers again those whose line is still asserted.
    /// </summary>
    public void EndOfInterrupt(byte vector)
    {
        lock (_lock)
        {
            for (int pin = 0; pin < PinCount; pin++)
            {
                ulong entry = _entries[pin];
                if ((entry & EntryRemoteIrr) == 0 || (byte)(entry & EntryVectorMask) != vector) continue;
                _entries[pin] = entry & ~EntryRemoteIrr;
                ServiceLevel(pin);
            }
        }
    }

    public void Read(ulong offset, Span<byte> data)
    {
        uint value = 0;
        ulong register = offset & ~3UL;
        if (register == RegisterSelectOffset)
            lock (_lock) value = _select;
        else if (register == WindowOffset)
            lock (_lock) value = ReadIndirect(_select);
        int shift = (int)(offset & 3) * 8;
        for (int i = 0; i < data.Length; i++)
            data[i] = i + (int)(offset & 3) < 4 ? (byte)(value >> (shift + 8 * i)) : (byte)0;
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        if (data.IsEmpty) return;
        if (offset == RegisterSelectOffset)
        {
            lock (_lock) _select = data[0];
        }
        else if (offset == WindowOffset && data.Length == 4)
        {
            uint value = BinaryPrimitives.ReadUInt32LittleEndian(data);
            lock (_lock) WriteIndirect(_select, value);
        }
        // Anything else (other offsets, partial IOWIN writes) has no defined effect: dropped.
    }

    private uint ReadIndirect(byte index)
    {
        switch (index)
        {
            case IdRegister: return (uint)_id << IdShift;
            case VersionRegister: return VersionValue;
            case ArbitrationRegister: return (uint)_id << IdShift;
        }
        int pin = (index - RedirectionTableBase) >> 1;
        if (index < RedirectionTableBase || pin >= PinCount) return 0;
        ulong entry = _entries[pin];
        return (index & 1) == 0 ? (uint)entry : (uint)(entry >> 32);
    }

    private void WriteIndirect(byte index, uint value)
    {
        if (index == IdRegister)
        {
            _id = (byte)((value >> IdShift) & IdMask);
            return;
        }
        int pin = (index - RedirectionTableBase) >> 1;
        if (index < RedirectionTableBase || pin >= PinCount) return; // version, arbitration and unknown indices are read-only
        ulong old = _entries[pin];
        ulong written = (index & 1) == 0
            ? (old & 0xFFFF_FFFF_0000_0000UL) | value
            : (old & 0xFFFF_FFFFUL) | ((ulong)value << 32);
        ulong entry = (written & EntryWritableMask) | (old & EntryRemoteIrr);
        // Remote IRR only means something for level-triggered entries.
        if ((entry & EntryLevelTriggered) == 0) entry &= ~EntryRemoteIrr;
        _entries[pin] = entry;
        // A level line that is still asserted is delivered as soon as the entry allows it (e.g. on unmask).
        if ((entry & EntryLevelTriggered) != 0) ServiceLevel(pin);
    }

    /// <summary>Sends a level-triggered pin's message if its line is asserted, it is unmasked and Remote IRR is clear.</summary>
    private void ServiceLevel(int pin)
    {
        ulong entry = _entries[pin];
        if ((entry & (EntryLevelTriggered | EntryMasked | EntryRemoteIrr)) != EntryLevelTriggered) return;
        if ((_asserted & (1u << pin)) == 0) return;
        // Remote IRR waits for the EOI only if some local APIC took the message; otherwise the line would stay stuck.
        if (Send(entry)) _entries[pin] = entry | EntryRemoteIrr;
    }

    private bool Send(ulong entry) => _sink.Deliver(new InterruptMessage(
        Destination: (uint)(entry >> EntryDestinationShift),
        LogicalDestination: (entry & EntryLogicalDestination) != 0,
        DeliveryMode: (InterruptDeliveryMode)((entry & EntryDeliveryModeMask) >> 8),
        Vector: (byte)(entry & EntryVectorMask),
        LevelTriggered: (entry & EntryLevelTriggered) != 0));

    public string StateKey => "ioapic";

    public IoApicState SaveState()
    {
        lock (_lock)
            return new IoApicState
            {
                Id = _id,
                RegisterSelect = _select,
                RedirectionEntries = (ulong[])_entries.Clone(),
                AssertedLines = _asserted,
            };
    }

    /// <summary>Loads a saved state; nothing is delivered, since a saved level line that could be delivered already was.</summary>
    public void RestoreState(IoApicState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.RedirectionEntries.Length != PinCount)
            throw new ArgumentException($"an IOAPIC state needs {PinCount} redirection entries", nameof(state));
        if (state.Id > IdMask) throw new ArgumentException("the IOAPIC ID has 4 bits", nameof(state));
        lock (_lock)
        {
            _id = state.Id;
            _select = state.RegisterSelect;
            for (int i = 0; i < PinCount; i++)
                _entries[i] = state.RedirectionEntries[i] & (EntryWritableMask | EntryRemoteIrr);
            _asserted = state.AssertedLines & ((1u << PinCount) - 1);
        }
    }
}
