using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Devices.State;

namespace Sharpvisor.Machine.Devices.Power;

/// <summary>
/// The hardware-reduced ACPI sleep control, sleep status and reset registers the FADT points at, one byte each at
/// <see cref="SleepControlPort"/>, <see cref="SleepStatusPort"/> and <see cref="ResetPort"/>.
/// <para>
/// Writing SLP_EN with SLP_TYP = <see cref="S5SleepType"/> asks for power-off. This machine has no other sleep state;
/// a request for one (which the DSDT does not offer) is answered as if a wake event came at once: WAK_STS is set, so a
/// guest polling for it resumes instead of hanging. Writing <see cref="ResetValue"/> to the reset register asks for a
/// reset. Callbacks run on the writing vCPU's thread, outside any lock of this device.
/// </para>
/// </summary>
public sealed class AcpiPowerDevice : IBusDevice, IStatefulDevice<AcpiPowerDeviceState>
{
    public const ushort BasePort = 0x3C0;
    public const ushort PortCount = 3;
    public const ushort SleepControlPort = BasePort;
    public const ushort SleepStatusPort = BasePort + 1;
    public const ushort ResetPort = BasePort + 2;
    /// <summary>Width of each register, for the FADT's generic address structures.</summary>
    public const int RegisterBitWidth = 8;

    public const byte SleepEnable = 0x20;            // SLP_EN, bit 5
    public const int SleepTypeShift = 2;              // SLP_TYP, bits 4:2
    public const byte SleepTypeMask = 0x1C;
    public const byte S5SleepType = 5;
    public const byte WakeStatus = 0x80;              // WAK_STS, bit 7
    public const byte ResetValue = 0x01;

    private const ulong SleepControlOffset = SleepControlPort - BasePort;
    private const ulong SleepStatusOffset = SleepStatusPort - BasePort;
    private const ulong ResetOffset = ResetPort - BasePort;

    private readonly Action _powerOffRequested;
    private readonly Action _resetRequested;
    private volatile bool _wakeStatus;

    public AcpiPowerDevice(Action powerOffRequested, Action resetRequested)
    {
        ArgumentNullException.ThrowIfNull(powerOffRequested);
        ArgumentNullException.ThrowIfNull(resetRequested);
        _powerOffRequested = powerOffRequested;
        _resetRequested = resetRequested;
    }

    public void Read(ulong offset, Span<byte> data)
    {
        // SLP_EN and SLP_TYP read as zero, as does the write-only reset register.
        for (int i = 0; i < data.Length; i++)
        {
            ulong register = offset + (ulong)i;
            data[i] = register == SleepStatusOffset ? (_wakeStatus ? WakeStatus : (byte)0)
                : register < PortCount ? (byte)0 : (byte)0xFF;
        }
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        for (int i = 0; i < data.Length; i++)
        {
            ulong register = offset + (ulong)i;
            byte value = data[i];
            if (register == SleepControlOffset && (value & SleepEnable) != 0)
            {
                if ((value & SleepTypeMask) >> SleepTypeShift == S5SleepType) _powerOffRequested();
                else _wakeStatus = true;
            }
            else if (register == SleepStatusOffset && (value & WakeStatus) != 0)
            {
                _wakeStatus = false;                   // write 1 to clear
            }
            else if (register == ResetOffset && value == ResetValue)
            {
                _resetRequested();
            }
        }
    }

    public string StateKey => "acpi-power";

    public AcpiPowerDeviceState SaveState() => new() { WakeStatus = _wakeStatus };

    public void RestoreState(AcpiPowerDeviceState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        _wakeStatus = state.WakeStatus;
    }
}
