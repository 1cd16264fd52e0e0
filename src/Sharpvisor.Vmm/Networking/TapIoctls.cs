namespace Sharpvisor.Vmm.Networking;

/// <summary>The tun/tap and interface-flag ioctls a tap backend makes (through Libc.ioctl), and struct ifreq's layout.</summary>
internal static class TapIoctls
{
    /// <summary>_IOW('T', 202, int): attach the file to a tun/tap interface, creating it if it does not exist.</summary>
    public const nuint TunSetInterface = 0x400454CA;
    public const nuint SiocGetInterfaceFlags = 0x8913, SiocSetInterfaceFlags = 0x8914;
    public const short IffTap = 0x0002, IffNoPacketInfo = 0x1000;
    public const short IffUp = 0x1;
    /// <summary>sizeof(struct ifreq): the name (16 bytes, NUL-terminated) and a union whose first member is the flags.</summary>
    public const int InterfaceRequestSize = 40, InterfaceNameSize = 16;
}
