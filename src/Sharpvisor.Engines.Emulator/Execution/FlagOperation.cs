namespace Sharpvisor.Engines.Emulator.Execution;

/// <summary>
/// The last instruction that set the arithmetic flags, so <see cref="LazyFlags"/> can compute each flag only when
/// something reads it. Most flag results are never read: the next instruction overwrites them.
/// </summary>
public enum FlagOperation : byte
{
    /// <summary>The flags are held as bits (after POPF, SAHF, a rotate, an interrupt...).</summary>
    Materialized,
    Add,
    /// <summary>ADC: <see cref="LazyFlags.Auxiliary"/> holds the carry in.</summary>
    AddWithCarry,
    Sub,
    /// <summary>SBB: <see cref="LazyFlags.Auxiliary"/> holds the borrow in.</summary>
    SubWithBorrow,
    /// <summary>AND, OR, XOR, TEST: CF and OF clear, AF undefined (we give 0).</summary>
    Logic,
    /// <summary>INC: as ADD of 1, but CF is kept; <see cref="LazyFlags.Auxiliary"/> holds the old CF.</summary>
    Increment,
    /// <summary>DEC: as SUB of 1, but CF is kept; <see cref="LazyFlags.Auxiliary"/> holds the old CF.</summary>
    Decrement,
    /// <summary>NEG: 0 - Src1.</summary>
    Negate,
    /// <summary>SHL/SAL by Src2 (1..width-1 after masking): CF is the last bit out, OF is defined for a count of 1.</summary>
    ShiftLeft,
    /// <summary>SHR by Src2.</summary>
    ShiftRightLogical,
    /// <summary>SAR by Src2.</summary>
    ShiftRightArithmetic,
    /// <summary>MUL/IMUL: CF and OF are <see cref="LazyFlags.Auxiliary"/> != 0 (the product did not fit); SF ZF PF
    /// (architecturally undefined) follow the truncated product, AF is 0.</summary>
    Multiply,
}
