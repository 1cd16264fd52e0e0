using System.Runtime.InteropServices;

namespace Sharpvisor.Machine.Native;

/// <summary>
/// The one binding of the C library for all of Sharpvisor (engines, VMM, CLI, tools, benches): each libc function
/// is declared once, in the partial files beside this one, by area. Names are libc's own, so a call reads like the
/// man page. Device- or engine-specific request numbers (KVM ioctls, tap ioctls) stay with their users.
/// </summary>
public static partial class Libc
{
    public const int ErrnoNoEntry = 2, ErrnoInterrupted = 4, ErrnoAgain = 11, ErrnoAccess = 13, ErrnoNotSupported = 95;

    public static int LastError => Marshal.GetLastPInvokeError();

    public static string Describe(int errno) => Marshal.GetPInvokeErrorMessage(errno);

    /// <summary>The message for the last errno, e.g. "Cannot allocate memory (errno 12)".</summary>
    public static string LastErrorText()
    {
        int errno = Marshal.GetLastPInvokeError();
        return $"{Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})";
    }
}
