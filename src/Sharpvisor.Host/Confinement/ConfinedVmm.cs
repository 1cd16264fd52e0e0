using Sharpvisor.Machine.Native;

namespace Sharpvisor.Host.Confinement;

/// <summary>
/// A running (or ended) confined VMM: its pid, held through a pidfd so a reused pid cannot be mistaken for it, and its
/// cgroup. A watcher thread polls the pidfd; on exit it reaps the process when it is this daemon's child (exit code or
/// signal), reads the cgroup's OOM counter, and completes <see cref="Exited"/>. Dispose stops watching and closes the
/// pidfd; it never touches the process, which outlives the daemon.
/// </summary>
public sealed class ConfinedVmm : IDisposable
{
    private readonly int _pidfd;
    private readonly int _stopEvent;
    private readonly long _memoryLimitBytes;
    private readonly TaskCompletionSource<VmmExit> _exit = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly Thread _watcher;
    private int _disposed;

    internal ConfinedVmm(string name, int pid, int pidfd, VmmCgroup cgroup, bool isChild, string? jailDirectory)
    {
        Name = name;
        Pid = pid;
        _pidfd = pidfd;
        Cgroup = cgroup;
        IsChild = isChild;
        JailDirectory = jailDirectory;
        _memoryLimitBytes = cgroup.ReadLimits().MemoryLimitBytes;
        _stopEvent = Libc.eventfd(0, Libc.EfdCloExec | Libc.EfdNonBlock);
        if (_stopEvent < 0) throw new IOException($"eventfd: {Libc.LastErrorText()}");
        _watcher = new Thread(Watch) { IsBackground = true, Name = $"vmm {name} exit watcher" };
        _watcher.Start();
    }

    public string Name { get; }
    public int Pid { get; }
    public VmmCgroup Cgroup { get; }
    /// <summary>What the daemon stores to adopt this VMM after a restart (see <see cref="VmmLauncher.Adopt"/>).</summary>
    public string CgroupPath => Cgroup.Path;
    /// <summary>Started by this daemon (its exit status will be known), not adopted.</summary>
    public bool IsChild { get; }
    /// <summary>The host directory the jail's root was mounted on (an empty mount point outside the jail).</summary>
    public string? JailDirectory { get; }

    /// <summary>Completes when the process has ended, with why.</summary>
    public Task<VmmExit> Exited => _exit.Task;
    public bool HasExited => _exit.Task.IsCompleted;

    /// <summary>Sends <paramref name="signal"/> (SIGKILL by default); a process already gone is not an error.</summary>
    public void Kill(int signal = Libc.SignalKill)
    {
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (Libc.pidfd_send_signal(_pidfd, signal) < 0 && Libc.LastError != Libc.ErrnoNoProcess)
            throw new IOException($"cannot signal VMM {Name} (pid {Pid}): {Libc.LastErrorText()}");
    }

    /// <summary>After the exit: removes the cgroup and the jail's mount point. Throws if the process still runs.</summary>
    public void RemoveCgroup()
    {
        if (!HasExited) throw new InvalidOperationException($"VMM {Name} (pid {Pid}) is still running; its cgroup stays");
        Cgroup.Remove(TimeSpan.FromSeconds(5));
        if (JailDirectory is not null && Directory.Exists(JailDirectory)) Directory.Delete(JailDirectory);
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        unsafe
        {
            ulong one = 1;
            Libc.write(_stopEvent, (byte*)&one, sizeof(ulong));
        }
        _watcher.Join();
        Libc.close(_stopEvent);
        Libc.close(_pidfd);
        _exit.TrySetCanceled();
    }

    private unsafe void Watch()
    {
        var descriptors = stackalloc Libc.PollDescriptor[2];
        while (true)
        {
            descriptors[0] = new Libc.PollDescriptor { Fd = _pidfd, Events = Libc.PollIn };
            descriptors[1] = new Libc.PollDescriptor { Fd = _stopEvent, Events = Libc.PollIn };
            if (Libc.poll(descriptors, 2, -1) < 0)
            {
                if (Libc.LastError == Libc.ErrnoInterrupted) continue;
                _exit.TrySetException(new IOException($"poll on VMM {Name}'s pidfd: {Libc.LastErrorText()}"));
                return;
            }
            if (descriptors[1].ReturnedEvents != 0) return;
            if (descriptors[0].ReturnedEvents != 0) break;
        }
        _exit.TrySetResult(Reap());
    }

    private unsafe VmmExit Reap()
    {
        int? code = null, signal = null;
        bool known = false;
        string? why = null;
        if (IsChild)
        {
            byte* info = stackalloc byte[128];
            new Span<byte>(info, 128).Clear();
            int result;
            do result = Libc.waitid(Libc.IdTypePidfd, _pidfd, info, Libc.WaitExited);
            while (result < 0 && Libc.LastError == Libc.ErrnoInterrupted);
            if (result == 0)
            {
                int how = *(int*)(info + 8), status = *(int*)(info + 24);
                known = true;
                if (how == Libc.ChildExited) code = status;
                else signal = status;
            }
            else why = $"waitid: {Libc.LastErrorText()}: reaped by someone else";
        }
        else why = $"pid {Pid} was started by an earlier daemon, so only its parent could read it";
        return VmmExit.From(code, signal, known, Cgroup.OomKills(), _memoryLimitBytes, why);
    }
}
