using System.Net.Sockets;
using Sharpvisor.Vmm.Lifecycle;

namespace Sharpvisor.Host.Supervision;

/// <summary>The daemon's side of a VMM's control socket (<see cref="VmControlServer"/>): one command, one reply line.</summary>
public static class VmmControl
{
    /// <summary>Sends <paramref name="command"/>; returns the reply after "ok", or throws <see cref="VmmControlException"/> with the VMM's error.</summary>
    public static async Task<string> SendAsync(string socket, string command, TimeSpan timeout)
    {
        string reply;
        try
        {
            reply = await Task.Run(() => VmControlServer.Send(socket, command, timeout)).ConfigureAwait(false);
        }
        catch (SocketException e)
        {
            throw new VmmControlException($"the VMM's control socket does not answer ({e.SocketErrorCode})", unreachable: true);
        }
        if (reply == "ok" || reply.StartsWith("ok ", StringComparison.Ordinal)) return reply.Length > 3 ? reply[3..] : "";
        if (reply.Length == 0) throw new VmmControlException("the VMM closed its control connection without a reply", unreachable: true);
        throw new VmmControlException(reply.StartsWith("error ", StringComparison.Ordinal) ? reply[6..] : reply, unreachable: false);
    }

    /// <summary>Waits until the control socket answers <c>status</c>; returns the VM's state word, or null when it never did.</summary>
    public static async Task<string?> WaitForStatusAsync(string socket, TimeSpan timeout, Func<bool> stillWanted)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (DateTime.UtcNow < deadline && stillWanted())
        {
            try { return await SendAsync(socket, "status", TimeSpan.FromSeconds(5)).ConfigureAwait(false); }
            catch (VmmControlException e) when (e.Unreachable) { await Task.Delay(50).ConfigureAwait(false); }
        }
        return null;
    }
}

public sealed class VmmControlException(string message, bool unreachable) : Exception(message)
{
    /// <summary>The socket did not answer at all (the VMM is gone or not yet listening), as opposed to refusing the command.</summary>
    public bool Unreachable { get; } = unreachable;
}
