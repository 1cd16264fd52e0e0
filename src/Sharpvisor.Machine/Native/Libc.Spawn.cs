using System.Runtime.InteropServices;

namespace Sharpvisor.Machine.Native;

/// <summary>
/// Starting and watching other processes without the runtime's Process class: posix_spawn (own session, chosen
/// descriptors), pidfds (a handle that a reused pid cannot fool), waitid, and file ownership for what they may use.
/// </summary>
public static partial class Libc
{
    public const int PosixSpawnSetSignalDefault = 0x04, PosixSpawnSetSignalMask = 0x08, PosixSpawnSetSession = 0x80;
    public const int OWrOnly = 0x1, OCreate = 0x40, OAppend = 0x400;
    public const int WaitExited = 4, WaitNoHang = 1, IdTypePidfd = 3;
    public const int ChildExited = 1, ChildKilled = 2, ChildDumped = 3; // siginfo si_code for SIGCHLD
    public const int SignalKill = 9, SignalTerm = 15;
    public const int ErrnoNoProcess = 3, ErrnoBusy = 16, ErrnoNoChild = 10;
    // glibc's opaque posix_spawn types are 80 and 336 bytes on x86-64; sigset_t is 128.
    public const int SpawnFileActionsSize = 80, SpawnAttributesSize = 336, SignalSetSize = 128;
    private const long SysPidfdSendSignal = 424, SysPidfdOpen = 434;

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int posix_spawn(out int pid, byte* path, byte* fileActions, byte* attributes, byte** argv, byte** envp);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int posix_spawn_file_actions_init(byte* fileActions);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int posix_spawn_file_actions_destroy(byte* fileActions);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int posix_spawn_file_actions_addopen(byte* fileActions, int fd, byte* path, int flags, uint mode);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int posix_spawn_file_actions_adddup2(byte* fileActions, int fd, int newFd);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int posix_spawnattr_init(byte* attributes);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int posix_spawnattr_destroy(byte* attributes);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int posix_spawnattr_setflags(byte* attributes, short flags);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int posix_spawnattr_setsigmask(byte* attributes, byte* signalSet);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int posix_spawnattr_setsigdefault(byte* attributes, byte* signalSet);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int sigemptyset(byte* signalSet);

    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int sigfillset(byte* signalSet);

    [LibraryImport("libc", SetLastError = true)]
    private static partial long syscall(long number, long a, long b, long c, long d);

    /// <summary>A pidfd for <paramref name="pid"/> (close-on-exec), or -1 with errno (ESRCH: no such process).</summary>
    public static int pidfd_open(int pid) => (int)syscall(SysPidfdOpen, pid, 0, 0, 0);

    public static int pidfd_send_signal(int pidfd, int signal) => (int)syscall(SysPidfdSendSignal, pidfd, signal, 0, 0);

    /// <summary><paramref name="info"/>: siginfo_t (128 bytes): si_code at 8, si_pid at 16, si_status at 24.</summary>
    [LibraryImport("libc", SetLastError = true)]
    public static unsafe partial int waitid(int idType, int id, byte* info, int options);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    public static partial int chown(string path, int uid, int gid);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static unsafe partial int stat(string path, byte* stat);

    /// <summary>A file's owner, mode and device number (x86-64 struct stat: st_mode at 24, st_uid 28, st_gid 32, st_rdev 40).</summary>
    public static unsafe FileStatus StatPath(string path)
    {
        byte* buffer = stackalloc byte[144];
        if (stat(path, buffer) != 0) throw new IOException($"stat {path}: {LastErrorText()}");
        ulong device = *(ulong*)(buffer + 40);
        // glibc's gnu_dev_major/minor split of a dev_t.
        uint major = (uint)(((device >> 32) & 0xFFFFF000) | ((device >> 8) & 0xFFF));
        uint minor = (uint)(((device >> 12) & 0xFFFFFF00) | (device & 0xFF));
        return new FileStatus(*(uint*)(buffer + 24), *(int*)(buffer + 28), *(int*)(buffer + 32), major, minor);
    }

    /// <summary>What <see cref="StatPath"/> reads: mode bits (type included), owner, and for a device its numbers.</summary>
    public readonly record struct FileStatus(uint Mode, int Uid, int Gid, uint DeviceMajor, uint DeviceMinor)
    {
        public bool IsCharacterDevice => (Mode & 0xF000) == 0x2000;
        public bool IsDirectory => (Mode & 0xF000) == 0x4000;
    }
}
