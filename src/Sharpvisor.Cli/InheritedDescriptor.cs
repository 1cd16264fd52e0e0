using Sharpvisor.Machine.Native;

namespace Sharpvisor.Cli;

/// <summary>
/// Whether a standard descriptor came from the parent. A process started with stdin closed finds descriptor 0 taken
/// by the .NET runtime's own pipes (seen here: close-on-exec, shared with descriptors 3 and 4); reading it as the
/// guest's console would take bytes the runtime waits for. Close-on-exec marks a descriptor this process opened:
/// one inherited across exec cannot carry it.
/// </summary>
public static class InheritedDescriptor
{
    public static bool IsInherited(int fd)
    {
        int flags = Libc.fcntl(fd, Libc.FcntlGetDescriptorFlags);
        return flags >= 0 && (flags & Libc.DescriptorCloseOnExec) == 0;
    }
}
