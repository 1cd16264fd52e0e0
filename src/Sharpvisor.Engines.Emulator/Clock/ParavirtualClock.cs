using System.Buffers.Binary;
using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Engines.Emulator.Clock;

/// <summary>
/// KVM's paravirtual clock ("kvm-clock") for one vCPU: the guest names a guest-physical address through an MSR and
/// finds there the scale from its TSC to nanoseconds. Linux then needs no TSC or timer calibration, which would take
/// long under emulation. Our TSC counts nanoseconds (<see cref="GuestClock"/>), so the record is written once per
/// MSR write and never changes: system time = the guest's TSC.
/// </summary>
public sealed class ParavirtualClock(GuestMemory memory, GuestClock clock, CpuCore cpu) : IModelSpecificRegisterHandler
{
    // The "new" MSR numbers (KVM_FEATURE_CLOCKSOURCE2); the old 0x11/0x12 pair is not advertised.
    public const uint WallClockMsr = 0x4B56_4D00, SystemTimeMsr = 0x4B56_4D01;
    // pvclock_vcpu_time_info: version, pad, tsc_timestamp, system_time, tsc_to_system_mul, tsc_shift, flags, pad.
    private const int TimeInfoSize = 32;
    private const byte TscStableFlag = 1;
    // ns = ((tsc << 1) * 0x8000_0000) >> 32 = tsc: a 1 GHz TSC expressed in the record's fixed-point form.
    private const uint MultiplierForOneGigahertz = 0x8000_0000;
    private const sbyte ShiftForOneGigahertz = 1;

    private ulong _systemTimeValue, _wallClockValue;

    public bool TryRead(uint index, out ulong value)
    {
        value = index switch { SystemTimeMsr => _systemTimeValue, WallClockMsr => _wallClockValue, _ => 0 };
        return index is SystemTimeMsr or WallClockMsr;
    }

    public bool TryWrite(uint index, ulong value)
    {
        switch (index)
        {
            case SystemTimeMsr:
                _systemTimeValue = value;
                if ((value & 1) != 0) WriteTimeInfo(value & ~1UL);
                return true;
            case WallClockMsr:
                _wallClockValue = value;
                WriteWallClock(value);
                return true;
            default:
                return false;
        }
    }

    private void WriteTimeInfo(ulong address)
    {
        if (!memory.IsRam(address, TimeInfoSize)) return; // a guest pointing outside RAM gets no clock, not a crash
        Span<byte> record = stackalloc byte[TimeInfoSize];
        record.Clear();
        BinaryPrimitives.WriteUInt32LittleEndian(record, 2); // even: not being updated
        // tsc_timestamp = 0 and system_time = 0: the clock's origin is the TSC's.
        BinaryPrimitives.WriteUInt32LittleEndian(record[24..], MultiplierForOneGigahertz);
        record[28] = (byte)ShiftForOneGigahertz;
        record[29] = TscStableFlag;
        memory.Write(address, record);
    }

    private void WriteWallClock(ulong address)
    {
        if (!memory.IsRam(address, 12)) return;
        // The wall-clock time at which this vCPU's TSC (host clock + the guest's IA32_TSC offset) read zero.
        long nanoseconds = (clock.WallClockAtZero.UtcTicks - DateTimeOffset.UnixEpoch.UtcTicks) * 100 - cpu.TscOffset;
        Span<byte> record = stackalloc byte[12];
        BinaryPrimitives.WriteUInt32LittleEndian(record, 2);
        BinaryPrimitives.WriteUInt32LittleEndian(record[4..], (uint)(nanoseconds / 1_000_000_000));
        BinaryPrimitives.WriteUInt32LittleEndian(record[8..], (uint)(nanoseconds % 1_000_000_000));
        memory.Write(address, record);
    }
}
