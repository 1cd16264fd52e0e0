using System.Runtime.CompilerServices;

namespace Sharpvisor.Engines.Emulator.Instructions.X87;

/// <summary>
/// One x87 register in double extended-precision format: a 64-bit significand with an explicit integer bit
/// (bit 63) and a 16-bit sign/exponent word (bit 15 sign, bits 14..0 the exponent biased by 16383).
/// The bits are kept exactly as the hardware stores them, so unsupported encodings (unnormals, pseudo-NaNs,
/// pseudo-infinities) survive FLD m80 / FSTP m80 and FXSAVE/FXRSTOR unchanged.
/// </summary>
public struct Float80 : IEquatable<Float80>
{
    public const int Bias = 16383;
    public const int MaxBiasedExponent = 0x7FFF;
    public const ulong IntegerBit = 1UL << 63;
    public const ulong QuietBit = 1UL << 62;

    public ulong Significand;
    public ushort SignExponent;

    public Float80(ushort signExponent, ulong significand)
    {
        SignExponent = signExponent;
        Significand = significand;
    }

    /// <summary>The QNaN floating-point indefinite (negative, quiet bit only) that masked invalid operations deliver.</summary>
    public static Float80 Indefinite => new(0xFFFF, 0xC000_0000_0000_0000);
    public static Float80 Zero(bool negative) => new((ushort)(negative ? 0x8000 : 0), 0);
    public static Float80 Infinity(bool negative) => new((ushort)(negative ? 0xFFFF : 0x7FFF), IntegerBit);

    public readonly bool Sign => (SignExponent & 0x8000) != 0;
    public readonly int BiasedExponent => SignExponent & 0x7FFF;

    public readonly Float80 Negated => new((ushort)(SignExponent ^ 0x8000), Significand);
    public readonly Float80 Absolute => new((ushort)(SignExponent & 0x7FFF), Significand);
    public readonly Float80 WithSign(bool negative) => new((ushort)((SignExponent & 0x7FFF) | (negative ? 0x8000 : 0)), Significand);

    public readonly X87Class Classify()
    {
        int exponent = BiasedExponent;
        if (exponent == MaxBiasedExponent)
        {
            if ((Significand & IntegerBit) == 0) return X87Class.Unsupported; // pseudo-infinity / pseudo-NaN
            if ((Significand << 1) == 0) return X87Class.Infinity;
            return (Significand & QuietBit) != 0 ? X87Class.QuietNaN : X87Class.SignalingNaN;
        }
        if (exponent == 0) return Significand == 0 ? X87Class.Zero : X87Class.Denormal; // pseudo-denormals included
        return (Significand & IntegerBit) != 0 ? X87Class.Normal : X87Class.Unsupported; // unnormal
    }

    public readonly bool IsNaN => BiasedExponent == MaxBiasedExponent && (Significand & IntegerBit) != 0 && (Significand << 1) != 0;

    /// <summary>The same NaN with its quiet bit set.</summary>
    public readonly Float80 Quieted => new(SignExponent, Significand | QuietBit);

    public readonly bool Equals(Float80 other) => Significand == other.Significand && SignExponent == other.SignExponent;
    public override readonly bool Equals(object? obj) => obj is Float80 other && Equals(other);
    public override readonly int GetHashCode() => HashCode.Combine(Significand, SignExponent);
    public static bool operator ==(Float80 left, Float80 right) => left.Equals(right);
    public static bool operator !=(Float80 left, Float80 right) => !left.Equals(right);

    public override readonly string ToString() => $"{SignExponent:X4}:{Significand:X16}";

    /// <summary>Reads the 10-byte memory format (significand first, little-endian).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Float80 Read(ReadOnlySpan<byte> bytes) =>
        new(System.Buffers.Binary.BinaryPrimitives.ReadUInt16LittleEndian(bytes[8..]), System.Buffers.Binary.BinaryPrimitives.ReadUInt64LittleEndian(bytes));

    public readonly void Write(Span<byte> bytes)
    {
        System.Buffers.Binary.BinaryPrimitives.WriteUInt64LittleEndian(bytes, Significand);
        System.Buffers.Binary.BinaryPrimitives.WriteUInt16LittleEndian(bytes[8..], SignExponent);
    }
}
