using Sharpvisor.Machine.Devices.Rtc;

namespace Sharpvisor.Machine.Tests.Devices.Rtc;

public sealed class CmosRtcTests
{
    private const ulong MiB = 1UL << 20, GiB = 1UL << 30;
    // A Thursday, in a leap year, in the afternoon.
    private DateTime _now = new(2024, 2, 29, 13, 45, 7, 250, DateTimeKind.Utc);
    private readonly CmosRtc _rtc;

    public CmosRtcTests() => _rtc = new CmosRtc(512 * MiB, 0, () => _now);

    private byte Get(byte index)
    {
        _rtc.Write(0, [index]);
        Span<byte> b = stackalloc byte[1];
        _rtc.Read(1, b);
        return b[0];
    }

    private void Set(byte index, byte value)
    {
        _rtc.Write(0, [index]);
        _rtc.Write(1, [value]);
    }

    private byte[] TimeRegisters() =>
    [
        Get(CmosRtc.SecondsRegister), Get(CmosRtc.MinutesRegister), Get(CmosRtc.HoursRegister),
        Get(CmosRtc.DayOfWeekRegister), Get(CmosRtc.DayOfMonthRegister), Get(CmosRtc.MonthRegister),
        Get(CmosRtc.YearRegister), Get(CmosRtc.CenturyRegister),
    ];

    [Fact]
    public void PowerOnTimeReadsInBcd24Hour()
    {
        Assert.Equal(new byte[] { 0x07, 0x45, 0x13, 0x05, 0x29, 0x02, 0x24, 0x20 }, TimeRegisters());
        Assert.Equal(0x26, Get(CmosRtc.RegisterA));
        Assert.Equal(0x02, Get(CmosRtc.RegisterB));
        Assert.Equal(0x80, Get(CmosRtc.RegisterD));
    }

    [Fact]
    public void BinaryModeReadsPlainNumbers()
    {
        Set(CmosRtc.RegisterB, CmosRtc.B24Hour | CmosRtc.BBinary);
        Assert.Equal(new byte[] { 7, 45, 13, 5, 29, 2, 24, 20 }, TimeRegisters());
    }

    [Theory]
    [InlineData(13, 0x00, 0x81)]                 // BCD 12-hour: 1 PM
    [InlineData(0, 0x00, 0x12)]                  // midnight is 12 AM
    [InlineData(12, 0x00, 0x92)]                 // noon is 12 PM
    [InlineData(23, 0x00, 0x91)]
    [InlineData(23, CmosRtc.BBinary, 0x8B)]      // binary 12-hour: 11 PM
    [InlineData(9, CmosRtc.BBinary | CmosRtc.B24Hour, 9)]
    [InlineData(19, CmosRtc.B24Hour, 0x19)]
    public void HoursFollowTheSelectedFormat(int hour, byte registerB, byte expected)
    {
        _now = new DateTime(2024, 2, 29, hour, 0, 0, DateTimeKind.Utc);
        Set(CmosRtc.RegisterB, registerB);
        Assert.Equal(expected, Get(CmosRtc.HoursRegister));
    }

    [Fact]
    public void TimeFollowsTheHostClock()
    {
        _now = _now.AddSeconds(61);
        Assert.Equal(0x08, Get(CmosRtc.SecondsRegister));
        Assert.Equal(0x46, Get(CmosRtc.MinutesRegister));
        _now = new DateTime(2024, 2, 29, 23, 59, 59, DateTimeKind.Utc).AddSeconds(1);
        Assert.Equal(new byte[] { 0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x24, 0x20 }, TimeRegisters());
    }

    [Fact]
    public void SettingTheTimeUnderSetChangesTheOffset()
    {
        // As Linux's mc146818_set_time does: SET on, write every field, SET off.
        Set(CmosRtc.RegisterB, CmosRtc.BSet | CmosRtc.B24Hour);
        Set(CmosRtc.SecondsRegister, 0x30);
        Set(CmosRtc.MinutesRegister, 0x15);
        Set(CmosRtc.HoursRegister, 0x08);
        Set(CmosRtc.DayOfMonthRegister, 0x31);
        Set(CmosRtc.MonthRegister, 0x12);
        Set(CmosRtc.YearRegister, 0x99);
        Set(CmosRtc.CenturyRegister, 0x19);
        Set(CmosRtc.DayOfWeekRegister, 0x06);
        _now = _now.AddSeconds(5);                            // halted: nothing moves
        Assert.Equal(0x30, Get(CmosRtc.SecondsRegister));
        Assert.Equal(new DateTime(1999, 12, 31, 8, 15, 30), _rtc.GuestTime);
        Set(CmosRtc.RegisterB, CmosRtc.B24Hour);
        _now = _now.AddSeconds(31);
        Assert.Equal(new byte[] { 0x01, 0x16, 0x08, 0x06, 0x31, 0x12, 0x99, 0x19 }, TimeRegisters());
        var expectedOffset = (long)(new DateTime(1999, 12, 31, 8, 15, 30) - new DateTime(2024, 2, 29, 13, 45, 12)).TotalSeconds;
        Assert.Equal(expectedOffset, _rtc.SaveState().OffsetSeconds);
        // Midnight moves the day of week on by one, Friday (6) to Saturday (7).
        _now = _now.AddHours(16);
        Assert.Equal(new byte[] { 0x07, 0x01, 0x01, 0x00, 0x20 }, TimeRegisters()[3..]);
    }

    [Fact]
    public void WritingOneFieldWhileRunningAdjustsOnlyThatField()
    {
        Set(CmosRtc.MinutesRegister, 0x05);
        Assert.Equal(new byte[] { 0x07, 0x05, 0x13, 0x05, 0x29, 0x02, 0x24, 0x20 }, TimeRegisters());
        Assert.Equal(-40 * 60, _rtc.SaveState().OffsetSeconds);
        Set(CmosRtc.YearRegister, 0x25);
        // 2025 has no 29 February: the day runs over into March.
        Assert.Equal(new DateTime(2025, 3, 1, 13, 5, 7), _rtc.GuestTime);
        // The day of week is a counter of its own and keeps saying Thursday.
        Assert.Equal(0x05, Get(CmosRtc.DayOfWeekRegister));
    }

    [Fact]
    public void HaltedRegistersKeepTheirBytesAndFormat()
    {
        Set(CmosRtc.RegisterB, CmosRtc.BSet | CmosRtc.B24Hour);
        Set(CmosRtc.RegisterB, CmosRtc.BSet | CmosRtc.B24Hour | CmosRtc.BBinary);   // format change does not convert
        Assert.Equal(0x45, Get(CmosRtc.MinutesRegister));
        Set(CmosRtc.MinutesRegister, 0x3A);                   // 58 in binary
        Set(CmosRtc.SecondsRegister, 0x07);
        Set(CmosRtc.HoursRegister, 0x13);                     // 19 in binary
        Set(CmosRtc.DayOfMonthRegister, 0x1D);
        Set(CmosRtc.MonthRegister, 0x02);
        Set(CmosRtc.YearRegister, 24);
        Set(CmosRtc.CenturyRegister, 20);
        Set(CmosRtc.DayOfWeekRegister, 5);
        Set(CmosRtc.RegisterB, CmosRtc.B24Hour | CmosRtc.BBinary);
        Assert.Equal(new DateTime(2024, 2, 29, 19, 58, 7), _rtc.GuestTime);
    }

    [Fact]
    public void DividerResetHaltsTheClockUntilNormalDividerReturns()
    {
        Set(CmosRtc.RegisterA, 0x76);                          // divider chain reset
        _now = _now.AddSeconds(10);
        Assert.Equal(0x07, Get(CmosRtc.SecondsRegister));
        Set(CmosRtc.RegisterA, 0x26);
        _now = _now.AddSeconds(2);
        Assert.Equal(0x09, Get(CmosRtc.SecondsRegister));
    }

    [Fact]
    public void UpdateInProgressCoversTheLast244MicrosecondsOfEachSecond()
    {
        _now = new DateTime(2024, 2, 29, 13, 45, 7, DateTimeKind.Utc).AddTicks(TimeSpan.TicksPerSecond - 2000);
        Assert.Equal(CmosRtc.AUpdateInProgress | 0x26, Get(CmosRtc.RegisterA));
        _now = new DateTime(2024, 2, 29, 13, 45, 7, DateTimeKind.Utc).AddTicks(TimeSpan.TicksPerSecond - 3000);
        Assert.Equal(0x26, Get(CmosRtc.RegisterA));
        _now = new DateTime(2024, 2, 29, 13, 45, 8, 500, DateTimeKind.Utc);
        Assert.Equal(0x26, Get(CmosRtc.RegisterA));
        // Halted clocks do not update.
        _now = new DateTime(2024, 2, 29, 13, 45, 7, DateTimeKind.Utc).AddTicks(TimeSpan.TicksPerSecond - 2000);
        Set(CmosRtc.RegisterB, CmosRtc.BSet | CmosRtc.B24Hour);
        Assert.Equal(0x26, Get(CmosRtc.RegisterA));
    }

    [Fact]
    public void RegisterAKeepsItsWritableBits()
    {
        Set(CmosRtc.RegisterA, 0xAF);                          // UIP is read-only
        _now = new DateTime(2024, 2, 29, 13, 45, 7, 100, DateTimeKind.Utc);
        Assert.Equal(0x2F, Get(CmosRtc.RegisterA));
    }

    [Fact]
    public void RegisterCReportsUpdateEndedOncePerReadAfterASecondPasses()
    {
        Assert.Equal(0, Get(CmosRtc.RegisterC) & CmosRtc.CUpdateEnded);
        _now = _now.AddSeconds(1);
        Assert.Equal(CmosRtc.CUpdateEnded, Get(CmosRtc.RegisterC) & CmosRtc.CUpdateEnded);
        Assert.Equal(0, Get(CmosRtc.RegisterC) & CmosRtc.CUpdateEnded);   // cleared by the read
    }

    [Fact]
    public void RegisterCSetsIrqfOnlyForEnabledFlags()
    {
        _now = _now.AddSeconds(1);
        Assert.Equal(CmosRtc.CUpdateEnded | CmosRtc.CPeriodic, Get(CmosRtc.RegisterC));
        Set(CmosRtc.RegisterB, CmosRtc.B24Hour | CmosRtc.BUpdateInterruptEnable);
        _now = _now.AddSeconds(1);
        Assert.Equal(CmosRtc.CInterruptRequest | CmosRtc.CUpdateEnded | CmosRtc.CPeriodic, Get(CmosRtc.RegisterC));
        Assert.Equal(0, Get(CmosRtc.RegisterC));
    }

    [Fact]
    public void PeriodicFlagFollowsTheRateSelect()
    {
        Set(CmosRtc.RegisterA, 0x2F);                          // 2 Hz
        Get(CmosRtc.RegisterC);
        _now = new DateTime(2024, 2, 29, 13, 45, 7, 400, DateTimeKind.Utc);
        Assert.Equal(0, Get(CmosRtc.RegisterC) & CmosRtc.CPeriodic);
        _now = new DateTime(2024, 2, 29, 13, 45, 7, 600, DateTimeKind.Utc);
        Assert.Equal(CmosRtc.CPeriodic, Get(CmosRtc.RegisterC) & CmosRtc.CPeriodic);
        Set(CmosRtc.RegisterA, 0x20);                          // rate 0: no periodic flag
        _now = _now.AddSeconds(3);
        Assert.Equal(0, Get(CmosRtc.RegisterC) & CmosRtc.CPeriodic);
    }

    [Fact]
    public void AlarmFlagRisesWhenTheAlarmTimePasses()
    {
        Set(CmosRtc.HoursAlarmRegister, 0x13);
        Set(CmosRtc.MinutesAlarmRegister, 0x46);
        Set(CmosRtc.SecondsAlarmRegister, 0x00);
        Get(CmosRtc.RegisterC);
        _now = _now.AddSeconds(50);                            // 13:45:57
        Assert.Equal(0, Get(CmosRtc.RegisterC) & CmosRtc.CAlarm);
        _now = _now.AddSeconds(5);                             // 13:46:02
        Assert.Equal(CmosRtc.CAlarm, Get(CmosRtc.RegisterC) & CmosRtc.CAlarm);
        _now = _now.AddHours(1);
        Assert.Equal(0, Get(CmosRtc.RegisterC) & CmosRtc.CAlarm);
        _now = _now.AddHours(23);                              // through 13:46:00 next day
        Assert.Equal(CmosRtc.CAlarm, Get(CmosRtc.RegisterC) & CmosRtc.CAlarm);
    }

    [Fact]
    public void AlarmDontCareBytesMatchAnyValue()
    {
        Set(CmosRtc.HoursAlarmRegister, 0xFF);
        Set(CmosRtc.MinutesAlarmRegister, 0xC0);
        Set(CmosRtc.SecondsAlarmRegister, 0x30);              // every minute at :30
        Get(CmosRtc.RegisterC);
        _now = _now.AddSeconds(20);                            // 13:45:27
        Assert.Equal(0, Get(CmosRtc.RegisterC) & CmosRtc.CAlarm);
        _now = _now.AddSeconds(3);                             // 13:45:30
        Assert.Equal(CmosRtc.CAlarm, Get(CmosRtc.RegisterC) & CmosRtc.CAlarm);
        // An impossible alarm never matches, however long the wait.
        Set(CmosRtc.SecondsAlarmRegister, 0x75);
        Get(CmosRtc.RegisterC);
        _now = _now.AddDays(400);
        Assert.Equal(0, Get(CmosRtc.RegisterC) & CmosRtc.CAlarm);
    }

    [Fact]
    public void SetBitClearsUpdateInterruptEnableAndStopsUpdates()
    {
        Set(CmosRtc.RegisterB, CmosRtc.B24Hour | CmosRtc.BUpdateInterruptEnable);
        Set(CmosRtc.RegisterB, CmosRtc.BSet | CmosRtc.B24Hour | CmosRtc.BUpdateInterruptEnable);
        Assert.Equal(CmosRtc.BSet | CmosRtc.B24Hour, Get(CmosRtc.RegisterB));
        Get(CmosRtc.RegisterC);
        _now = _now.AddSeconds(3);
        Assert.Equal(0, Get(CmosRtc.RegisterC) & CmosRtc.CUpdateEnded);
    }

    [Fact]
    public void StatusRegistersIgnoreWrites()
    {
        Set(CmosRtc.RegisterD, 0x00);
        Assert.Equal(CmosRtc.DValidRamAndTime, Get(CmosRtc.RegisterD));
        _now = _now.AddSeconds(1);
        Set(CmosRtc.RegisterC, 0x00);
        Assert.Equal(CmosRtc.CUpdateEnded, Get(CmosRtc.RegisterC) & CmosRtc.CUpdateEnded);
    }

    [Fact]
    public void IndexBit7MasksNmiAndSelectsTheSameRegister()
    {
        _rtc.Write(0, [0x80 | 0x40]);
        Assert.True(_rtc.NmiDisabled);
        _rtc.Write(1, [0xAB]);
        _rtc.Write(0, [0x40]);
        Assert.False(_rtc.NmiDisabled);
        Span<byte> b = stackalloc byte[1];
        _rtc.Read(1, b);
        Assert.Equal(0xAB, b[0]);
        _rtc.Read(0, b);
        Assert.Equal(0xFF, b[0]);                              // the index port is write-only
    }

    [Fact]
    public void NvramBytesKeepWhatIsWritten()
    {
        for (byte i = 0x0E; i < CmosRtc.RamSize; i++)
            if (i != CmosRtc.CenturyRegister) Set(i, (byte)(i ^ 0x5A));
        for (byte i = 0x0E; i < CmosRtc.RamSize; i++)
            if (i != CmosRtc.CenturyRegister) Assert.Equal((byte)(i ^ 0x5A), Get(i));
    }

    [Fact]
    public void MemorySizesAreRecordedLikePcFirmware()
    {
        var rtc = new CmosRtc(3 * GiB, 5 * GiB, () => _now);
        byte Read(byte index)
        {
            rtc.Write(0, [index]);
            Span<byte> b = stackalloc byte[1];
            rtc.Read(1, b);
            return b[0];
        }
        Assert.Equal(640, Read(0x15) | Read(0x16) << 8);
        Assert.Equal(0xFC00, Read(0x17) | Read(0x18) << 8);
        Assert.Equal(0xFC00, Read(0x30) | Read(0x31) << 8);
        Assert.Equal((3 * 1024 - 16) * 16, Read(0x34) | Read(0x35) << 8);
        Assert.Equal(5 * 1024 * 16, Read(0x5B) | Read(0x5C) << 8 | Read(0x5D) << 16);
        int sum = 0;
        for (byte i = 0x10; i <= 0x2D; i++) sum += Read(i);
        Assert.Equal(sum, Read(0x2E) << 8 | Read(0x2F));
    }

    [Fact]
    public void TotalRamIsSplitAtTheMmioHole()
    {
        var rtc = new CmosRtc(4 * GiB, () => _now);              // 3 GiB below the hole, 1 GiB above 4 GiB
        byte Read(byte index)
        {
            rtc.Write(0, [index]);
            Span<byte> b = stackalloc byte[1];
            rtc.Read(1, b);
            return b[0];
        }
        Assert.Equal((3 * 1024 - 16) * 16, Read(0x34) | Read(0x35) << 8);
        Assert.Equal(1024 * 16, Read(0x5B) | Read(0x5C) << 8 | Read(0x5D) << 16);
        Assert.Equal(new DateTime(2024, 2, 29, 13, 45, 7), rtc.GuestTime);
    }

    [Fact]
    public void SmallGuestsRecordNoMemoryAbove16MiB()
    {
        Assert.Equal(0, Get(0x5B) | Get(0x5C) | Get(0x5D));
        Assert.Equal((512 - 16) * 16, Get(0x34) | Get(0x35) << 8);
        var tiny = new CmosRtc(16 * MiB, 0, () => _now);
        tiny.Write(0, [0x34]);
        Span<byte> b = stackalloc byte[2];
        tiny.Read(1, b[..1]);
        tiny.Write(0, [0x35]);
        tiny.Read(1, b[1..]);
        Assert.Equal(0, b[0] | b[1]);
    }

    [Fact]
    public void LinuxStyleReadWaitsOutUpdateInProgress()
    {
        _now = new DateTime(2024, 2, 29, 13, 45, 7, DateTimeKind.Utc).AddTicks(TimeSpan.TicksPerSecond - 1000);
        int polls = 0;
        while ((Get(CmosRtc.RegisterA) & CmosRtc.AUpdateInProgress) != 0)
        {
            polls++;
            _now = _now.AddTicks(500);                         // the guest's mdelay, compressed
        }
        Assert.Equal(2, polls);
        Assert.Equal(0x08, Get(CmosRtc.SecondsRegister));
    }

    [Fact]
    public void GarbageInTimeRegistersNeverThrows()
    {
        for (int value = 0; value < 256; value += 17)
        {
            foreach (byte index in new byte[] { 0, 2, 4, 6, 7, 8, 9, 0x32 }) Set(index, (byte)value);
            Set(CmosRtc.RegisterB, CmosRtc.BSet);
            foreach (byte index in new byte[] { 0, 2, 4, 6, 7, 8, 9, 0x32 }) Set(index, (byte)value);
            Set(CmosRtc.RegisterB, (byte)(value & 0x07));
            TimeRegisters();
            Get(CmosRtc.RegisterC);
        }
        _now = DateTime.MaxValue.AddSeconds(-1);
        TimeRegisters();
    }

    [Fact]
    public void SavedStateRestoresTheOffsetAgainstTheNewHostClock()
    {
        Set(CmosRtc.HoursRegister, 0x01);                      // guest runs 12 h 45 min behind
        Set(0x40, 0x99);
        _rtc.Write(0, [0x80 | CmosRtc.SecondsRegister]);
        var state = _rtc.SaveState();

        var later = _now.AddDays(1);
        var copy = new CmosRtc(512 * MiB, 0, () => later);
        copy.RestoreState(state);
        Assert.Equal(new DateTime(2024, 3, 1, 1, 45, 7), copy.GuestTime);
        Assert.True(copy.NmiDisabled);
        Assert.Equal(state.Ram, copy.SaveState().Ram);
        Assert.Equal(state with { Ram = state.Ram }, copy.SaveState() with { Ram = state.Ram });
    }
}
