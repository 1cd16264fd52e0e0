using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using System.Runtime.Intrinsics;
using Sharpvisor.Engines.Emulator.Execution;

namespace Sharpvisor.Engines.Emulator.Instructions.Sse;

/// <summary>Views of an XMM value as a vector or as a span of lanes, for element-wise handlers (no copies on the heap).</summary>
public static class XmmVectors
{
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Vector128<byte> ToVector(in XmmRegister x) => Vector128.Create(x.Low, x.High).AsByte();

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static XmmRegister ToXmm<T>(Vector128<T> v)
    {
        var q = v.AsUInt64();
        return new XmmRegister { Low = q.GetElement(0), High = q.GetElement(1) };
    }

    /// <summary>The register's 16 bytes as lanes of <typeparamref name="T"/> (lane 0 = lowest).</summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    public static Span<T> Lanes<T>(ref XmmRegister x) where T : struct =>
        MemoryMarshal.Cast<XmmRegister, T>(new Span<XmmRegister>(ref x));
}
