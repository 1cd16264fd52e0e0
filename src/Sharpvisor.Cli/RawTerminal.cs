using Sharpvisor.Machine.Native;

namespace Sharpvisor.Cli;

/// <summary>
/// Puts the controlling terminal into raw mode for an interactive console (every key goes to the guest, Ctrl-C
/// included) and restores it on dispose, on Ctrl-A x, and on process exit.
/// </summary>
internal sealed class RawTerminal : IDisposable
{
    private const int StdinFd = 0, TermiosSize = 60;
    private readonly byte[] _saved = new byte[64];
    private bool _active;

    public static bool StdinIsTerminal => Libc.isatty(StdinFd) == 1;

    public static RawTerminal? TryEnter()
    {
        if (!StdinIsTerminal) return null;
        var t = new RawTerminal();
        return t.Enter() ? t : null;
    }

    private unsafe bool Enter()
    {
        byte* raw = stackalloc byte[64];
        fixed (byte* saved = _saved)
        {
            if (Libc.tcgetattr(StdinFd, saved) != 0) return false;
            new Span<byte>(saved, TermiosSize).CopyTo(new Span<byte>(raw, TermiosSize));
        }
        Libc.cfmakeraw(raw);
        if (Libc.tcsetattr(StdinFd, Libc.TcsaNow, raw) != 0) return false;
        _active = true;
        AppDomain.CurrentDomain.ProcessExit += (_, _) => Dispose();
        return true;
    }

    public unsafe void Dispose()
    {
        if (!_active) return;
        _active = false;
        fixed (byte* saved = _saved) Libc.tcsetattr(StdinFd, Libc.TcsaNow, saved);
    }
}
