using System.Text;

namespace Sharpvisor.Vmm.Configuration;

/// <summary>Tells a Linux kernel from our own small guests, so engine selection knows whether ring 0 must run well.</summary>
public static class KernelKind
{
    private static readonly byte[] LinuxBanner = Encoding.ASCII.GetBytes("Linux version ");

    /// <summary>A bzImage ("HdrS" at 0x202), or an ELF vmlinux that carries the kernel's version banner.</summary>
    public static bool IsLinux(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        if (bytes.Length > 0x206 && Encoding.ASCII.GetString(bytes, 0x202, 4) == "HdrS") return true;
        return bytes.AsSpan().IndexOf(LinuxBanner) >= 0;
    }
}
