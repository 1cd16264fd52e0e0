using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Devices.State;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Machine.Devices.Rtc;

/// <summary>
/// The PC's battery-backed CMOS and Motorola MC146818-style real-time clock behind index port 0x70 (bit 7 masks NMI)
/// and data port 0x71.
/// <para>
/// The clock is the host's UTC clock plus an offset in whole seconds; a guest writing the time registers changes the
/// offset. While register B's SET bit is on, or register A's divider is not in its normal 010 setting, the clock is
/// halted and the time registers are plain bytes the guest can fill in any order; when it runs again, they are read
/// back in the current BCD/binary and 12/24-hour format to give the new offset. Register C's flags are worked out when
/// it is read, from the time that passed since it was read last, so a guest polling for the update, alarm or periodic
/// flags sees them; there is no IRQ 8 and daylight-saving mode is not applied. UIP is set in the 244 µs before each
/// second ticks over.
/// </para>
/// </summary>
public sealed class CmosRtc : IBusDevice, IStatefulDevice<CmosRtcState>
{
    public const ushort IndexPort = 0x70;
    public const ushort DataPort = 0x71;
    public const ushort PortCount = 2;
    public const int RamSize = 128;
    public const byte NmiDisableBit = 0x80;

    public const byte SecondsRegister = 0x00, SecondsAlarmRegister = 0x01, MinutesRegister = 0x02, MinutesAlarmRegister = 0x03,
        HoursRegister = 0x04, HoursAlarmRegister = 0x05, DayOfWeekRegister = 0x06, DayOfMonthRegister = 0x07,
        MonthRegister = 0x08, YearRegister = 0x09, RegisterA = 0x0A, RegisterB = 0x0B, RegisterC = 0x0C, RegisterD = 0x0D,
        CenturyRegister = 0x32;

    // Memory sizes as PC firmware records them.
    public const byte BaseMemoryKbLow = 0x15, ExtendedMemoryKbLow = 0x17, ChecksumHigh = 0x2E, ChecksumLow = 0x2F,
        ExtendedMemoryKbLow2 = 0x30, MemoryAbove16MiBLow = 0x34, MemoryAbove4GiBLow = 0x5B;

    public const byte AUpdateInProgress = 0x80, ADividerMask = 0x70, ADividerNormal = 0x20, ARateMask = 0x0F;
    public const byte BSet = 0x80, BPeriodicInterruptEnable = 0x40, BAlarmInterruptEnable = 0x20,
        BUpdateInterruptEnable = 0x10, BSquareWave = 0x08, BBinary = 0x04, B24Hour = 0x02, BDaylightSaving = 0x01;
    public const byte CInterruptRequest = 0x80, CPeriodic = 0x40, CAlarm = 0x20, CUpdateEnded = 0x10;
    public const byte DValidRamAndTime = 0x80;
    /// <summary>Normal divider (32.768 kHz) and a 1024 Hz periodic rate, as Linux and PC firmware set it.</summary>
    public const byte PowerOnRegisterA = 0x26;
    /// <summary>BCD, 24-hour mode, no interrupts.</summary>
    public const byte PowerOnRegisterB = B24Hour;

    private const long TicksPerSecond = TimeSpan.TicksPerSecond;
    private const long UpdateInProgressTicks = 2_440;            // 244 µs
    private const long SecondsPerDay = 86_400;
    private const byte AlarmDontCare = 0xC0;
    private const ulong KiB = 1024, MiB = 1024 * KiB, GiB = 1024 * MiB;
    private static readonly long MaxSeconds = DateTime.MaxValue.Ticks / TicksPerSecond;

    private readonly Lock _lock = new();
    private readonly Func<DateTime> _utcNow;
    private readonly byte[] _ram = new byte[RamSize];
    private byte _index;
    private bool _nmiDisabled;
    private long _offsetSeconds;
    private int _dayOfWeekAdjust;
    private byte _pendingFlags;
    private long _flagsCheckedTicks;

    /// <summary>For a guest with <paramref name="ramSize"/> bytes of RAM laid out as <see cref="X86MemoryLayout"/> does.</summary>
    /// <param name="utcNow">The host clock, in UTC; tests pass a fixed one.</param>
    public CmosRtc(ulong ramSize, Func<DateTime>? utcNow = null)
        : this(Math.Min(ramSize, X86MemoryLayout.MmioHoleStart), ramSize - Math.Min(ramSize, X86MemoryLayout.MmioHoleStart), utcNow)
    {
    }

    /// <param name="ramBelow4G">Guest RAM from address 0 up to the 32-bit MMIO hole.</param>
    /// <param name="ramAbove4G">Guest RAM from 4 GiB up.</param>
    /// <param name="utcNow">The host clock, in UTC; tests pass a fixed one.</param>
    public CmosRtc(ulong ramBelow4G, ulong ramAbove4G, Func<DateTime>? utcNow = null)
    {
        ArgumentOutOfRangeException.ThrowIfGreaterThan(ramBelow4G, 4 * GiB);
        _utcNow = utcNow ?? (() => DateTime.UtcNow);
        _ram[RegisterA] = PowerOnRegisterA;
        _ram[RegisterB] = PowerOnRegisterB;
        WriteMemorySizes(ramBelow4G, ramAbove4G);
        _flagsCheckedTicks = HostTicks();
    }

    public bool NmiDisabled
    {
        get { lock (_lock) return _nmiDisabled; }
    }

    /// <summary>The date and time the guest reads now (what the halted registers say while the clock is halted).</summary>
    public DateTime GuestTime
    {
        get
        {
            lock (_lock)
                return new DateTime((Halted ? SecondsFromRegisters() : GuestSeconds(HostTicks())) * TicksPerSecond, DateTimeKind.Unspecified);
        }
    }

    public void Read(ulong offset, Span<byte> data)
    {
        lock (_lock)
            for (int i = 0; i < data.Length; i++)
                // The index port is write-only; reading it (or past the two ports) returns a floating bus.
                data[i] = offset + (ulong)i == 1 ? ReadData() : (byte)0xFF;
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data)
    {
        lock (_lock)
            for (int i = 0; i < data.Length; i++)
            {
                ulong port = offset + (ulong)i;
                if (port == 0)
                {
                    _index = (byte)(data[i] & ~NmiDisableBit);
                    _nmiDisabled = (data[i] & NmiDisableBit) != 0;
                }
                else if (port == 1)
                {
                    WriteData(data[i]);
                }
            }
    }

    public string StateKey => "cmos-rtc";

    public CmosRtcState SaveState()
    {
        lock (_lock)
        {
            AccumulateFlags(HostTicks());
            return new CmosRtcState
            {
                Ram = (byte[])_ram.Clone(),
                Index = _index,
                NmiDisabled = _nmiDisabled,
                OffsetSeconds = _offsetSeconds,
                DayOfWeekAdjust = _dayOfWeekAdjust,
                PendingFlags = _pendingFlags,
            };
        }
    }

    public void RestoreState(CmosRtcState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Ram.Length != RamSize)
            throw new ArgumentException($"CMOS state holds {state.Ram.Length} bytes, not {RamSize}", nameof(state));
        lock (_lock)
        {
            state.Ram.CopyTo(_ram, 0);
            _index = (byte)(state.Index & ~NmiDisableBit);
            _nmiDisabled = state.NmiDisabled;
            _offsetSeconds = state.OffsetSeconds;
            _dayOfWeekAdjust = Mod(state.DayOfWeekAdjust, 7);
            _pendingFlags = (byte)(state.PendingFlags & (CPeriodic | CAlarm | CUpdateEnded));
            _flagsCheckedTicks = HostTicks();
        }
    }

    private bool Halted => IsHalted(_ram[RegisterA], _ram[RegisterB]);

    private static bool IsHalted(byte a, byte b) => (b & BSet) != 0 || (a & ADividerMask) != ADividerNormal;

    private static bool IsTimeRegister(byte index) => index is SecondsRegister or MinutesRegister or HoursRegister
        or DayOfWeekRegister or DayOfMonthRegister or MonthRegister or YearRegister or CenturyRegister;

    private long HostTicks() => _utcNow().Ticks;

    private long GuestSeconds(long hostTicks) => Math.Clamp(hostTicks / TicksPerSecond + _offsetSeconds, 0, MaxSeconds);

    private byte ReadData()
    {
        byte index = _index;
        if (IsTimeRegister(index))
            return Halted ? _ram[index] : EncodeTimeRegister(index, GuestSeconds(HostTicks()), _ram[RegisterB]);
        switch (index)
        {
            case RegisterA:
                long now = HostTicks();
                bool updating = !Halted && now % TicksPerSecond >= TicksPerSecond - UpdateInProgressTicks;
                return (byte)(_ram[RegisterA] | (updating ? AUpdateInProgress : 0));
            case RegisterC:
                AccumulateFlags(HostTicks());
                byte flags = _pendingFlags;
                _pendingFlags = 0;
                // The enable bits in B sit at the same positions as the flags in C.
                if ((flags & _ram[RegisterB]) != 0) flags |= CInterruptRequest;
                return flags;
            case RegisterD:
                return DValidRamAndTime;
            default:
                return _ram[index];
        }
    }

    private void WriteData(byte value)
    {
        byte index = _index;
        if (IsTimeRegister(index))
        {
            if (Halted) _ram[index] = value;
            else SetTimeField(index, value, HostTicks());
            return;
        }
        switch (index)
        {
            case RegisterA:
                ChangeControl((byte)(value & ~AUpdateInProgress), _ram[RegisterB]);
                break;
            case RegisterB:
                // Setting SET clears UIE, as on the MC146818.
                if ((value & BSet) != 0) value &= unchecked((byte)~BUpdateInterruptEnable);
                ChangeControl(_ram[RegisterA], value);
                break;
            case RegisterC:
            case RegisterD:
                break;                              // read-only status registers
            default:
                _ram[index] = value;
                break;
        }
    }

    private void ChangeControl(byte a, byte b)
    {
        long now = HostTicks();
        AccumulateFlags(now);
        bool wasHalted = Halted;
        // On halting, the time registers keep the values and the format they were last counted in.
        if (!wasHalted && IsHalted(a, b))
            for (byte index = 0; index < RamSize; index++)
                if (IsTimeRegister(index))
                    _ram[index] = EncodeTimeRegister(index, GuestSeconds(now), _ram[RegisterB]);
        _ram[RegisterA] = a;
        _ram[RegisterB] = b;
        if (wasHalted && !Halted)
        {
            long seconds = SecondsFromRegisters();
            _offsetSeconds = seconds - now / TicksPerSecond;
            SetDayOfWeek(seconds, FromRtc(_ram[DayOfWeekRegister], b));
        }
    }

    /// <summary>The halted time registers, read in the current format, as seconds since 0001-01-01.</summary>
    private long SecondsFromRegisters()
    {
        byte format = _ram[RegisterB];
        int year = FromRtc(_ram[CenturyRegister], format) * 100 + FromRtc(_ram[YearRegister], format);
        return Compose(year, FromRtc(_ram[MonthRegister], format), FromRtc(_ram[DayOfMonthRegister], format),
            DecodeHour(_ram[HoursRegister], format), FromRtc(_ram[MinutesRegister], format), FromRtc(_ram[SecondsRegister], format));
    }

    private void SetTimeField(byte index, byte value, long now)
    {
        AccumulateFlags(now);
        long seconds = GuestSeconds(now);
        var t = new DateTime(seconds * TicksPerSecond);
        byte format = _ram[RegisterB];
        int dayOfWeek = DayOfWeekOf(seconds);
        int year = t.Year, month = t.Month, day = t.Day, hour = t.Hour, minute = t.Minute, second = t.Second;
        switch (index)
        {
            case SecondsRegister: second = FromRtc(value, format); break;
            case MinutesRegister: minute = FromRtc(value, format); break;
            case HoursRegister: hour = DecodeHour(value, format); break;
            case DayOfMonthRegister: day = FromRtc(value, format); break;
            case MonthRegister: month = FromRtc(value, format); break;
            case YearRegister: year = year / 100 * 100 + FromRtc(value, format); break;
            case CenturyRegister: year = FromRtc(value, format) * 100 + year % 100; break;
            case DayOfWeekRegister:
                SetDayOfWeek(seconds, FromRtc(value, format));
                return;
        }
        long updated = Compose(year, month, day, hour, minute, second);
        _offsetSeconds = updated - now / TicksPerSecond;
        // The day of week is a counter of its own: changing the date does not change it.
        SetDayOfWeek(updated, dayOfWeek);
    }

    private int DayOfWeekOf(long seconds) => Mod((int)new DateTime(seconds * TicksPerSecond).DayOfWeek + _dayOfWeekAdjust, 7) + 1;

    /// <summary>Makes the day-of-week register read <paramref name="dayOfWeek"/> (1 = Sunday) at <paramref name="seconds"/>.</summary>
    private void SetDayOfWeek(long seconds, int dayOfWeek) =>
        _dayOfWeekAdjust = Mod(dayOfWeek - 1 - (int)new DateTime(seconds * TicksPerSecond).DayOfWeek, 7);

    private byte EncodeTimeRegister(byte index, long seconds, byte format)
    {
        var t = new DateTime(seconds * TicksPerSecond);
        return index switch
        {
            SecondsRegister => ToRtc(t.Second, format),
            MinutesRegister => ToRtc(t.Minute, format),
            HoursRegister => EncodeHour(t.Hour, format),
            DayOfWeekRegister => ToRtc(DayOfWeekOf(seconds), format),
            DayOfMonthRegister => ToRtc(t.Day, format),
            MonthRegister => ToRtc(t.Month, format),
            YearRegister => ToRtc(t.Year % 100, format),
            _ => ToRtc(t.Year / 100, format),
        };
    }

    /// <summary>
    /// Turns possibly invalid register values into a time without throwing: fields are clamped to their ranges and a
    /// day past the end of its month runs into the next month, as a guest setting fields one at a time can cause.
    /// </summary>
    private static long Compose(int year, int month, int day, int hour, int minute, int second)
    {
        var date = new DateTime(Math.Clamp(year, 1, 9999), Math.Clamp(month, 1, 12), 1).AddDays(Math.Clamp(day, 1, 31) - 1);
        return date.Ticks / TicksPerSecond + Math.Clamp(hour, 0, 23) * 3600L + Math.Clamp(minute, 0, 59) * 60L
            + Math.Clamp(second, 0, 59);
    }

    private static byte ToRtc(int value, byte format) =>
        (format & BBinary) != 0 ? (byte)value : (byte)(value / 10 % 10 << 4 | value % 10);

    private static int FromRtc(byte value, byte format) =>
        (format & BBinary) != 0 ? value : (value >> 4) * 10 + (value & 0x0F);

    private static byte EncodeHour(int hour, byte format)
    {
        if ((format & B24Hour) != 0) return ToRtc(hour, format);
        int twelve = hour % 12 == 0 ? 12 : hour % 12;
        return (byte)(ToRtc(twelve, format) | (hour >= 12 ? 0x80 : 0));
    }

    private static int DecodeHour(byte value, byte format)
    {
        if ((format & B24Hour) != 0) return FromRtc(value, format);
        int hour = FromRtc((byte)(value & 0x7F), format) % 12;
        return (value & 0x80) != 0 ? hour + 12 : hour;
    }

    /// <summary>Raises the register C flags for what happened between the last check and <paramref name="now"/>.</summary>
    private void AccumulateFlags(long now)
    {
        long last = _flagsCheckedTicks;
        _flagsCheckedTicks = now;
        if (now <= last) return;
        byte a = _ram[RegisterA];
        if ((a & ADividerMask) != ADividerNormal) return;      // divider chain stopped: no periodic ticks, no updates
        int rate = a & ARateMask;
        if (rate != 0)
        {
            int hz = rate switch { 1 => 256, 2 => 128, _ => 65536 >> rate };
            if ((Int128)now * hz / TicksPerSecond > (Int128)last * hz / TicksPerSecond) _pendingFlags |= CPeriodic;
        }
        if ((_ram[RegisterB] & BSet) != 0) return;            // SET stops the update cycles
        long lastSecond = last / TicksPerSecond, nowSecond = now / TicksPerSecond;
        if (nowSecond == lastSecond) return;
        _pendingFlags |= CUpdateEnded;
        if (AlarmMatchedBetween(lastSecond + _offsetSeconds, nowSecond + _offsetSeconds)) _pendingFlags |= CAlarm;
    }

    /// <summary>Whether some guest second in (<paramref name="after"/>, <paramref name="upTo"/>] matches the alarm registers.</summary>
    private bool AlarmMatchedBetween(long after, long upTo)
    {
        byte format = _ram[RegisterB];
        int second = AlarmField(_ram[SecondsAlarmRegister], format, hour: false);
        int minute = AlarmField(_ram[MinutesAlarmRegister], format, hour: false);
        int hour = AlarmField(_ram[HoursAlarmRegister], format, hour: true);
        // Any satisfiable alarm matches within a day.
        after = Math.Max(after, upTo - SecondsPerDay);
        long t = Math.Max(after + 1, 0);
        // Jump to the next hour, minute or second that can match, so this takes a few thousand steps at most.
        while (t <= upTo)
        {
            long ofDay = t % SecondsPerDay;
            int h = (int)(ofDay / 3600), m = (int)(ofDay / 60 % 60), s = (int)(ofDay % 60);
            if (hour >= 0 && h != hour) t += 3600 - ofDay % 3600;
            else if (minute >= 0 && m != minute) t += 60 - s;
            else if (second >= 0 && s != second) t += second > s ? second - s : 60 - s;
            else return true;
        }
        return false;
    }

    /// <summary>An alarm register as a value to match, or -1 for "don't care" (both top bits set).</summary>
    private static int AlarmField(byte value, byte format, bool hour)
    {
        if ((value & AlarmDontCare) == AlarmDontCare) return -1;
        return hour ? DecodeHour(value, format) : FromRtc(value, format);
    }

    private void WriteMemorySizes(ulong ramBelow4G, ulong ramAbove4G)
    {
        void Put16(byte index, ulong value)
        {
            _ram[index] = (byte)value;
            _ram[index + 1] = (byte)(value >> 8);
        }

        Put16(BaseMemoryKbLow, 640);
        // Memory from 1 MiB to 64 MiB in KiB, in the original and in the second (POST-checked) location.
        ulong extended = ramBelow4G > MiB ? Math.Min((ramBelow4G - MiB) / KiB, 0xFC00) : 0;
        Put16(ExtendedMemoryKbLow, extended);
        Put16(ExtendedMemoryKbLow2, extended);
        Put16(MemoryAbove16MiBLow, ramBelow4G > 16 * MiB ? Math.Min((ramBelow4G - 16 * MiB) / (64 * KiB), 0xFFFF) : 0);
        ulong high = Math.Min(ramAbove4G / (64 * KiB), 0xFF_FFFF);
        _ram[MemoryAbove4GiBLow] = (byte)high;
        _ram[MemoryAbove4GiBLow + 1] = (byte)(high >> 8);
        _ram[MemoryAbove4GiBLow + 2] = (byte)(high >> 16);
        // The standard checksum covers 0x10-0x2D and is stored big-endian.
        int sum = 0;
        for (int i = 0x10; i <= 0x2D; i++) sum += _ram[i];
        _ram[ChecksumHigh] = (byte)(sum >> 8);
        _ram[ChecksumLow] = (byte)sum;
    }

    private static int Mod(int value, int modulus) => (value % modulus + modulus) % modulus;
}
