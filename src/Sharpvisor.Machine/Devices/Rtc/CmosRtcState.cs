using Sharpvisor.Machine.Devices.State;

namespace Sharpvisor.Machine.Devices.Rtc;

/// <summary>
/// Everything a <see cref="CmosRtc"/> holds. The running clock is not stored: it is the host's UTC clock plus
/// <see cref="OffsetSeconds"/>, so a restored guest keeps its own idea of the time zone or drift it set.
/// </summary>
public sealed record CmosRtcState : IDeviceState
{
    public static int CurrentVersion => 1;

    /// <summary>The 128 CMOS bytes. Time registers only mean something here while the clock is halted (SET or divider reset).</summary>
    public byte[] Ram { get; init; } = new byte[CmosRtc.RamSize];
    public byte Index { get; init; }
    public bool NmiDisabled { get; init; }
    /// <summary>Guest time minus host UTC time, in whole seconds.</summary>
    public long OffsetSeconds { get; init; }
    /// <summary>Days (0-6) the day-of-week register runs ahead of the weekday of the date, after a guest set it apart.</summary>
    public int DayOfWeekAdjust { get; init; }
    /// <summary>Register C flags (PF, AF, UF) raised but not yet read.</summary>
    public byte PendingFlags { get; init; }
}
