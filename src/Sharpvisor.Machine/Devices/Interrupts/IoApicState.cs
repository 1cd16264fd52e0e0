using Sharpvisor.Machine.Devices.State;

namespace Sharpvisor.Machine.Devices.Interrupts;

/// <summary>Everything an <see cref="IoApic"/> holds, for snapshots.</summary>
public sealed record IoApicState : IDeviceState
{
    public static int CurrentVersion => 1;

    /// <summary>The IOAPIC ID (4 bits, register 0 bits 27:24).</summary>
    public byte Id { get; init; }
    /// <summary>IOREGSEL: the register index IOWIN reaches.</summary>
    public byte RegisterSelect { get; init; }
    /// <summary>The 24 redirection entries as 64-bit values, Remote IRR (bit 14) included.</summary>
    public ulong[] RedirectionEntries { get; init; } = new ulong[IoApic.PinCount];
    /// <summary>Bit n set: input pin n is asserted.</summary>
    public uint AssertedLines { get; init; }
}
