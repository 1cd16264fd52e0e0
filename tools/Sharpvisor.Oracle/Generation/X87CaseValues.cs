using System.Buffers.Binary;
using Iced.Intel;

namespace Sharpvisor.Oracle.Generation;

/// <summary>
/// Random x87 inputs for the case generator: a whole x87 state (control word with random rounding and precision
/// control and mostly masked exceptions, a status word with random TOP, condition codes and sticky flags, random
/// tags, eight registers) and memory operands of the instruction's type. Register and operand values favour the
/// encodings whose handling differs: zeros, infinities, QNaNs (the indefinite too), SNaNs, denormals,
/// pseudo-denormals, unnormals and pseudo-NaNs, the extremes of the exponent range, values at the binary32/binary64
/// and integer conversion boundaries, values exactly representable in the narrower formats, and ordinary ones.
/// One state in sixteen has an unmasked exception pending (FSW.ES set), so waiting instructions raise #MF.
/// </summary>
public sealed class X87CaseValues(Random random)
{
    private readonly Random _random = random;

    /// <summary>Fills the 160-byte x87 part of an FXSAVE64 image.</summary>
    public void RandomState(Span<byte> state)
    {
        state.Clear();
        int masks = _random.Next(4) == 0 ? _random.Next(64) : 0x3F;
        ushort controlWord = RandomControlWord(masks);
        int flags = _random.Next(64) & masks;
        if (masks != 0x3F && _random.Next(16) == 0)
        {
            // An unmasked exception pending from an earlier instruction.
            int bit;
            do bit = 1 << _random.Next(6); while ((masks & bit) != 0);
            flags |= bit;
        }
        if ((flags & 1) != 0 && _random.Next(2) == 0) flags |= 0x40; // SF
        bool pending = (flags & ~masks & 0x3F) != 0;
        int conditions = _random.Next(16);
        int status = flags | (pending ? 0x8080 : 0) | (_random.Next(8) << 11) | (conditions & 7) << 8 | (conditions & 8) << 11;
        BinaryPrimitives.WriteUInt16LittleEndian(state, controlWord);
        BinaryPrimitives.WriteUInt16LittleEndian(state[2..], (ushort)status);
        int tags = 0;
        for (int r = 0; r < 8; r++)
            if (_random.Next(4) != 0) tags |= 1 << r;
        state[4] = (byte)tags;
        BinaryPrimitives.WriteUInt16LittleEndian(state[6..], (ushort)_random.Next(0x800));
        BinaryPrimitives.WriteUInt64LittleEndian(state[8..], (ulong)_random.NextInt64());
        BinaryPrimitives.WriteUInt64LittleEndian(state[16..], (ulong)_random.NextInt64());
        for (int k = 0; k < 8; k++) WriteExtended(state[(32 + 16 * k)..], ExtendedEdgeValue());
    }

    private ushort RandomControlWord(int masks)
    {
        int precision = _random.Next(16) == 0 ? 1 : _random.Next(3) switch { 0 => 0, 1 => 2, _ => 3 };
        return (ushort)(masks | 0x40 | precision << 8 | _random.Next(4) << 10 | _random.Next(2) << 12);
    }

    /// <summary>Three times in four, writes a value of the operand's type at the operand (the rest stays random bytes).</summary>
    public void FillMemoryOperand(Code code, MemorySize size, Span<byte> operand)
    {
        if (_random.Next(4) == 0) return;
        switch (code)
        {
            case Code.Fldcw_m2byte:
                BinaryPrimitives.WriteUInt16LittleEndian(operand, _random.Next(4) == 0 ? (ushort)_random.Next(0x10000) : RandomControlWord(_random.Next(2) == 0 ? 0x3F : _random.Next(64)));
                return;
            case Code.Fldenv_m28byte:
            case Code.Frstor_m108byte:
            {
                Span<byte> state = stackalloc byte[InstructionCase.X87StateBytes];
                RandomState(state);
                WriteEnvironment(state, operand);
                if (code == Code.Frstor_m108byte)
                    for (int k = 0; k < 8; k++) state.Slice(32 + 16 * k, 10).CopyTo(operand[(28 + 10 * k)..]);
                return;
            }
            case Code.Fxrstor_m512byte:
            case Code.Fxrstor64_m512byte:
                RandomState(operand[..InstructionCase.X87StateBytes]);
                uint mxcsr = _random.Next(8) == 0 ? (uint)_random.Next() : InstructionCase.DefaultMxcsr | (uint)_random.Next(4) << 13 | (uint)_random.Next(0x40);
                BinaryPrimitives.WriteUInt32LittleEndian(operand[24..], mxcsr & ~(1u << 17)); // bit 17: AMD only (see CaseGenerator)
                return;
        }
        switch (size)
        {
            case MemorySize.Float32: BinaryPrimitives.WriteUInt32LittleEndian(operand, SingleEdgeValue()); break;
            case MemorySize.Float64: BinaryPrimitives.WriteUInt64LittleEndian(operand, DoubleEdgeValue()); break;
            case MemorySize.Float80: WriteExtended(operand, ExtendedEdgeValue()); break;
            case MemorySize.Int16: BinaryPrimitives.WriteUInt16LittleEndian(operand, (ushort)IntegerEdgeValue(16)); break;
            case MemorySize.Int32: BinaryPrimitives.WriteUInt32LittleEndian(operand, (uint)IntegerEdgeValue(32)); break;
            case MemorySize.Int64: BinaryPrimitives.WriteUInt64LittleEndian(operand, IntegerEdgeValue(64)); break;
        }
    }

    /// <summary>The 28-byte protected-mode environment of a state: FCW, FSW, full tag word, FIP, FOP, FDP.</summary>
    private static void WriteEnvironment(ReadOnlySpan<byte> state, Span<byte> environment)
    {
        int valid = state[4], top = (BinaryPrimitives.ReadUInt16LittleEndian(state[2..]) >> 11) & 7, tags = 0;
        for (int physical = 0; physical < 8; physical++)
        {
            int tag = 3;
            if ((valid & (1 << physical)) != 0)
            {
                ReadOnlySpan<byte> register = state.Slice(32 + 16 * ((physical - top) & 7), 10);
                ulong significand = BinaryPrimitives.ReadUInt64LittleEndian(register);
                int exponent = BinaryPrimitives.ReadUInt16LittleEndian(register[8..]) & 0x7FFF;
                tag = exponent == 0 && significand == 0 ? 1 : exponent is 0 or 0x7FFF || (significand >> 63) == 0 ? 2 : 0;
            }
            tags |= tag << (2 * physical);
        }
        BinaryPrimitives.WriteUInt32LittleEndian(environment, 0xFFFF_0000u | BinaryPrimitives.ReadUInt16LittleEndian(state));
        BinaryPrimitives.WriteUInt32LittleEndian(environment[4..], 0xFFFF_0000u | BinaryPrimitives.ReadUInt16LittleEndian(state[2..]));
        BinaryPrimitives.WriteUInt32LittleEndian(environment[8..], 0xFFFF_0000u | (uint)tags);
        BinaryPrimitives.WriteUInt32LittleEndian(environment[12..], BinaryPrimitives.ReadUInt32LittleEndian(state[8..]));
        BinaryPrimitives.WriteUInt32LittleEndian(environment[16..], (uint)(BinaryPrimitives.ReadUInt16LittleEndian(state[6..]) & 0x7FF) << 16);
        BinaryPrimitives.WriteUInt32LittleEndian(environment[20..], BinaryPrimitives.ReadUInt32LittleEndian(state[16..]));
        BinaryPrimitives.WriteUInt32LittleEndian(environment[24..], 0xFFFF_0000u);
    }

    private static void WriteExtended(Span<byte> destination, (ushort SignExponent, ulong Significand) value)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(destination, value.Significand);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[8..], value.SignExponent);
    }

    private ulong RandomBits() => (ulong)_random.NextInt64() ^ ((ulong)_random.Next(2) << 63);

    /// <summary>An 80-bit register value (sign/exponent, significand).</summary>
    public (ushort SignExponent, ulong Significand) ExtendedEdgeValue()
    {
        int sign = _random.Next(2) << 15;
        ulong bits = RandomBits();
        const ulong integer = 1UL << 63;
        (int exponent, ulong significand) = _random.Next(24) switch
        {
            0 or 1 => (0, 0UL),
            2 => (0x7FFF, integer),
            3 => (0x7FFF, integer | 1UL << 62 | (bits & (_random.Next(2) == 0 ? 0x3FFF_FFFF_FFFF_FFFFUL : 0x3FFF_FFFF_FFFF_F800UL))),
            4 => (0x7FFF, 0xC000_0000_0000_0000UL),
            5 => (0x7FFF, integer | ((bits & 0x3FFF_FFFF_FFFF_FFFFUL) >> _random.Next(62)) | 1),
            6 => (0, (bits & ~integer) >> _random.Next(63)),
            7 => _random.Next(3) switch
            {
                0 => (0, integer | bits),                                   // pseudo-denormal
                1 => (_random.Next(1, 0x7FFF), (bits & ~integer) >> _random.Next(63)), // unnormal
                _ => (0x7FFF, bits & ~integer),                             // pseudo-infinity / pseudo-NaN
            },
            8 => (_random.Next(1, 80), integer | bits),
            9 => (_random.Next(0x7FFE - 80, 0x7FFF), integer | bits),
            10 => _random.Next(2) == 0 ? (0x7FFE, ulong.MaxValue) : (1, integer | (bits & 0xF)),
            11 or 12 => (0x3FFF + _random.Next(-60, 61), integer | (bits & ~0x7FFUL)),
            13 => (0x3FFF + _random.Next(-30, 31), integer | (bits & ~0xFF_FFFF_FFFFUL)),
            14 => (0x3FFF + _random.Next(0, 65), integer | (bits >> _random.Next(0, 64))),
            15 => (0x3FFF + _random.Next(14, 16) + 16 * _random.Next(3), _random.Next(2) == 0 ? ulong.MaxValue - (bits & 0xFFFF) : integer | (bits & 0xFFFF)),
            16 => (0x3FFF, _random.Next(2) == 0 ? integer | (bits & 0xFF) : ulong.MaxValue - (bits & 0xFF)),
            17 => (0x3FFF + (_random.Next(2) == 0 ? 1 : -1) * _random.Next(1018, 1080), integer | (bits & ~(0x7FFUL >> _random.Next(12)))),
            18 => (0x3FFF + (_random.Next(2) == 0 ? 1 : -1) * _random.Next(122, 155), integer | (bits & ~(0xFF_FFFF_FFFFUL >> _random.Next(41)))),
            19 => (0x3FFF + (_random.Next(2) == 0 ? 1 : -1) * _random.Next(16300, 16384), integer | bits),
            _ => (0x3FFF + _random.Next(-100, 101), integer | bits),
        };
        return ((ushort)(sign | (exponent & 0x7FFF)), significand);
    }

    private ulong IntegerEdgeValue(int bits)
    {
        ulong value = _random.Next(4) switch
        {
            0 => (ulong)_random.Next(-3, 4),
            1 => (1UL << (bits - 1)) + (ulong)_random.Next(-2, 3),                          // around the most negative
            2 => (ulong)_random.NextInt64() >> _random.Next(0, 64),                          // any magnitude
            _ => ((1UL << _random.Next(1, bits)) + (ulong)_random.Next(-2, 3)) * (ulong)(_random.Next(2) * 2 - 1),
        };
        return bits == 64 ? value : value & ((1UL << bits) - 1);
    }

    private ulong DoubleEdgeValue()
    {
        ulong sign = (ulong)_random.Next(2) << 63;
        ulong fraction = (ulong)_random.NextInt64() & 0x000F_FFFF_FFFF_FFFFUL;
        ulong magnitude = _random.Next(10) switch
        {
            0 => 0,
            1 => 0x7FF0_0000_0000_0000UL,
            2 => 0x7FF8_0000_0000_0000UL | (fraction >> 1),
            3 => 0x7FF0_0000_0000_0000UL | (fraction >> 1 | 1),
            4 => fraction >> _random.Next(52) | 1,
            5 => 0x7FEF_FFFF_FFFF_FFFFUL,
            6 => (ulong)_random.Next(1, 0x40) << 52 | fraction,
            7 => (ulong)_random.Next(0x7C0, 0x7FF) << 52 | fraction,
            _ => (ulong)_random.Next(0x3C0, 0x440) << 52 | fraction,
        };
        return sign | magnitude;
    }

    private uint SingleEdgeValue()
    {
        uint sign = (uint)_random.Next(2) << 31;
        uint fraction = (uint)_random.Next() & 0x007F_FFFF;
        uint magnitude = _random.Next(10) switch
        {
            0 => 0,
            1 => 0x7F80_0000,
            2 => 0x7FC0_0000 | (fraction >> 1),
            3 => 0x7F80_0000 | (fraction >> 1 | 1),
            4 => fraction >> _random.Next(23) | 1,
            5 => 0x7F7F_FFFF,
            6 => (uint)_random.Next(1, 0x10) << 23 | fraction,
            7 => (uint)_random.Next(0xF0, 0xFF) << 23 | fraction,
            _ => (uint)_random.Next(0x60, 0xA0) << 23 | fraction,
        };
        return sign | magnitude;
    }
}
