using System.Runtime.InteropServices;

namespace Sharpvisor.Machine.Native;

/// <summary>The controlling terminal, for the CLI's raw console. A termios is passed as bytes: only libc reads it.</summary>
public static partial class Libc
{
    public const int TcsaNow = 0;

    [LibraryImport("libc")]
    public static partial int isatty(int fd);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int tcgetattr(int fd, byte* termios);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int tcsetattr(int fd, int when, byte* termios);

    [LibraryImport("libc")]
    public static unsafe partial void cfmakeraw(byte* termios);
}
