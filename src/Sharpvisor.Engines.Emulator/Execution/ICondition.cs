using System.Runtime.CompilerServices;

namespace Sharpvisor.Engines.Emulator.Execution;

/// <summary>A Jcc/SETcc/CMOVcc condition as a type parameter, so the handler evaluates only the flags it needs.</summary>
internal interface ICondition
{
    static abstract bool Holds(in LazyFlags flags);
}

internal readonly struct ConditionO : ICondition { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Holds(in LazyFlags f) => f.Overflow; }
internal readonly struct ConditionNo : ICondition { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Holds(in LazyFlags f) => !f.Overflow; }
internal readonly struct ConditionB : ICondition { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Holds(in LazyFlags f) => f.Carry; }
internal readonly struct ConditionAe : ICondition { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Holds(in LazyFlags f) => !f.Carry; }
internal readonly struct ConditionE : ICondition { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Holds(in LazyFlags f) => f.Zero; }
internal readonly struct ConditionNe : ICondition { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Holds(in LazyFlags f) => !f.Zero; }
internal readonly struct ConditionBe : ICondition { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Holds(in LazyFlags f) => f.Carry || f.Zero; }
internal readonly struct ConditionA : ICondition { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Holds(in LazyFlags f) => !f.Carry && !f.Zero; }
internal readonly struct ConditionS : ICondition { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Holds(in LazyFlags f) => f.Sign; }
internal readonly struct ConditionNs : ICondition { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Holds(in LazyFlags f) => !f.Sign; }
internal readonly struct ConditionP : ICondition { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Holds(in LazyFlags f) => f.Parity; }
internal readonly struct ConditionNp : ICondition { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Holds(in LazyFlags f) => !f.Parity; }
internal readonly struct ConditionL : ICondition { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Holds(in LazyFlags f) => f.Sign != f.Overflow; }
internal readonly struct ConditionGe : ICondition { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Holds(in LazyFlags f) => f.Sign == f.Overflow; }
internal readonly struct ConditionLe : ICondition { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Holds(in LazyFlags f) => f.Zero || f.Sign != f.Overflow; }
internal readonly struct ConditionG : ICondition { [MethodImpl(MethodImplOptions.AggressiveInlining)] public static bool Holds(in LazyFlags f) => !f.Zero && f.Sign == f.Overflow; }
