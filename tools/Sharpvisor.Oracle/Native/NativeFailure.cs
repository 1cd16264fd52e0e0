using Sharpvisor.Machine.Native;

namespace Sharpvisor.Oracle.Native;

/// <summary>The exception for a failed libc call while the runner or worker sets itself up: nothing can go on after one.</summary>
internal static class NativeFailure
{
    public static Exception Of(string what) => new InvalidOperationException($"{what} failed: {Libc.LastErrorText()}");
}
