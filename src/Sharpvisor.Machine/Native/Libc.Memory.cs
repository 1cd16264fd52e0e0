using System.Runtime.InteropServices;

namespace Sharpvisor.Machine.Native;

/// <summary>Mappings: guest RAM, the oracle's code pages, signal stacks.</summary>
public static partial class Libc
{
    public const int ProtNone = 0, ProtRead = 1, ProtWrite = 2, ProtExec = 4;
    public const int MapShared = 0x01, MapPrivate = 0x02, MapFixed = 0x10, MapAnonymous = 0x20, MapNoReserve = 0x4000;
    public const int MapFixedNoReplace = 0x100000;
    public const int MadvDontNeed = 4, MadvMergeable = 12;
    public const uint MfdCloExec = 1;
    public static readonly nint MapFailed = -1;

    [LibraryImport("libc", SetLastError = true)]
    public static partial nint mmap(nint addr, nuint length, int prot, int flags, int fd, long offset);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int munmap(nint addr, nuint length);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int mprotect(nint addr, nuint length, int prot);

    [LibraryImport("libc", SetLastError = true)]
    public static partial int madvise(nint addr, nuint length, int advice);

    /// <summary>One byte per page of [addr, addr+length) into <paramref name="residency"/>; bit 0 set when resident.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int mincore(nint addr, nuint length, byte* residency);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int memfd_create(string name, uint flags);
}
