using Sharpvisor.Machine.Acpi;
using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Devices.State;
using Sharpvisor.Machine.Interrupts;

namespace Sharpvisor.Machine.Devices.Power;

/// <summary>
/// The hardware side of the DSDT's Generic Event Device (<see cref="GenericEventDeviceDescription"/>): one byte-wide
/// event register at <see cref="EventPort"/> whose bits are latched events, and a level-triggered interrupt line held
/// asserted while any is pending. The guest's _EVT method reads the register, which returns the pending events and
/// clears them (lowering the line); writes are ignored. <see cref="PressPowerButton"/> may be called from any thread.
/// </summary>
public sealed class AcpiGenericEventDevice(InterruptLine line) : IBusDevice, IStatefulDevice<AcpiGenericEventDeviceState>
{
    public const ushort EventPort = 0x3C4;
    public const ushort PortCount = 1;
    public const uint Gsi = 20;
    public const byte PowerButtonEvent = GenericEventDeviceDescription.PowerButtonEvent;

    private readonly Lock _lock = new();
    private byte _pending;

    /// <summary>Latches a power button press and raises the interrupt; presses before the guest reads count once.</summary>
    public void PressPowerButton() => Raise(PowerButtonEvent);

    private void Raise(byte events)
    {
        lock (_lock)
        {
            _pending |= events;
            line.Set(true);
        }
    }

    public void Read(ulong offset, Span<byte> data)
    {
        data.Fill(0xFF);
        if (offset != 0 || data.Length == 0) return;   // only the event register's own byte, read at its port
        lock (_lock)
        {
            data[0] = _pending;
            if (_pending == 0) return;
            _pending = 0;
            line.Set(false);
        }
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        // The register is read-to-clear; there is nothing to write.
    }

    public string StateKey => "acpi-ged";

    public AcpiGenericEventDeviceState SaveState()
    {
        lock (_lock) return new() { PendingEvents = _pending };
    }

    /// <summary>Loads the pending events and drives the line to match them.</summary>
    public void RestoreState(AcpiGenericEventDeviceState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        lock (_lock)
        {
            _pending = state.PendingEvents;
            line.Set(_pending != 0);
        }
    }
}
