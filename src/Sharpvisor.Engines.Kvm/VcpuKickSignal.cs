using Sharpvisor.Engines.Kvm.Native;
using Sharpvisor.Machine.Native;

namespace Sharpvisor.Engines.Kvm;

/// <summary>
/// The signal that knocks a vCPU thread out of KVM_RUN. .NET uses SIGRTMIN itself, so we take SIGRTMIN+6. The handler
/// is a single `ret` instruction in a page of its own: a managed handler would not be async-signal safe, and all we
/// need is for the signal to be delivered (so KVM_RUN returns EINTR) rather than ignored or fatal.
/// </summary>
internal static class VcpuKickSignal
{
    private static readonly Lazy<int> Installed = new(Install);

    public static int Number => Installed.Value;

    private static unsafe int Install()
    {
        int signal = Libc.__libc_current_sigrtmin() + 6;
        nint page = Libc.mmap(0, 4096, Libc.ProtRead | Libc.ProtWrite, Libc.MapPrivate | Libc.MapAnonymous, -1, 0);
        if (page == Libc.MapFailed) throw new EngineException($"cannot map the kick-signal handler: {Libc.LastErrorText()}");
        *(byte*)page = 0xC3; // ret
        if (Libc.mprotect(page, 4096, Libc.ProtRead | Libc.ProtExec) != 0)
            throw new EngineException($"cannot make the kick-signal handler executable: {Libc.LastErrorText()}");

        var action = new Libc.SigAction { Handler = page, Flags = Libc.SaRestart };
        if (Libc.sigaction(signal, &action, null) != 0)
            throw new EngineException($"cannot install the vCPU kick signal handler: {Libc.LastErrorText()}");
        return signal;
    }

    public static void Send(int threadId)
    {
        if (threadId == 0) return;
        Libc.tgkill(Libc.getpid(), threadId, Number);
    }

    public static int CurrentThreadId() => Libc.gettid();
}
