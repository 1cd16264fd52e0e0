namespace Sharpvisor.Engines.Emulator.Instructions.X87;

/// <summary>What an 80-bit register encoding holds (the classes FXAM reports, plus the two NaN kinds).</summary>
public enum X87Class : byte
{
    Zero,
    /// <summary>Exponent field 0 with a non-zero significand; pseudo-denormals (integer bit set) included.</summary>
    Denormal,
    Normal,
    Infinity,
    QuietNaN,
    SignalingNaN,
    /// <summary>Unnormals, pseudo-NaNs and pseudo-infinities: invalid operands for arithmetic since the 387.</summary>
    Unsupported,
}
