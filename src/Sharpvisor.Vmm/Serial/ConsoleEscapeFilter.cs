namespace Sharpvisor.Vmm.Serial;

/// <summary>
/// QEMU's console escapes on a raw terminal: Ctrl-A x quits, Ctrl-A Ctrl-A sends one Ctrl-A, Ctrl-A h prints help.
/// Everything else passes through to the guest unchanged.
/// </summary>
public sealed class ConsoleEscapeFilter
{
    public const byte CtrlA = 0x01;

    public enum Command { None, Quit, Help }

    private bool _afterEscape;

    /// <summary>Copies the bytes meant for the guest from <paramref name="input"/> into <paramref name="toGuest"/>, returns how many, and any command seen.</summary>
    public int Filter(ReadOnlySpan<byte> input, Span<byte> toGuest, out Command command)
    {
        command = Command.None;
        int n = 0;
        foreach (byte b in input)
        {
            if (_afterEscape)
            {
                _afterEscape = false;
                switch (b)
                {
                    case (byte)'x' or (byte)'X': command = Command.Quit; return n;
                    case (byte)'h' or (byte)'H' or (byte)'?': command = Command.Help; continue;
                    case CtrlA: toGuest[n++] = CtrlA; continue;
                    default: continue; // an unknown escape is swallowed, as QEMU does
                }
            }
            if (b == CtrlA) { _afterEscape = true; continue; }
            toGuest[n++] = b;
        }
        return n;
    }

    public const string HelpText = "\r\nC-a h    print this help\r\nC-a x    exit the VMM\r\nC-a C-a  send C-a\r\n";
}
