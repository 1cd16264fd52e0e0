using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Sharpvisor.Engines;
using Sharpvisor.Machine.Memory;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Snapshots;

namespace Sharpvisor.Vmm.Migration;

/// <summary>
/// The receiving side (`run --incoming`): listens on a TCP endpoint and takes one migration stream, whose
/// configuration comes first (<see cref="Accept"/>); the <see cref="ReceivedMigration"/> then writes the pages it
/// carries into the guest RAM of the machine built meanwhile (pages never sent stay unallocated). A damaged, truncated
/// or refused stream throws <see cref="MigrationException"/>; the source is told why when it can still hear it, and
/// keeps running.
/// </summary>
public sealed class IncomingMigration : IDisposable
{
    private readonly Socket _listener;

    public IPEndPoint LocalEndpoint { get; }

    private IncomingMigration(Socket listener)
    {
        _listener = listener;
        LocalEndpoint = (IPEndPoint)listener.LocalEndPoint!;
    }

    /// <summary>Binds and listens (port 0 picks a free port: see <see cref="LocalEndpoint"/>).</summary>
    public static IncomingMigration Listen(IPEndPoint endpoint)
    {
        var listener = new Socket(endpoint.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            listener.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            listener.Bind(endpoint);
            listener.Listen(1);
        }
        catch
        {
            listener.Dispose();
            throw;
        }
        return new IncomingMigration(listener);
    }

    /// <summary>
    /// Builds and discards a small machine on <paramref name="engine"/> on a thread of its own while this waits for a
    /// source, so the code the real machine needs is loaded before its pages start to arrive. Nobody needs to wait
    /// for the task: a migration that arrives meanwhile goes ahead.
    /// </summary>
    public Task WarmUp(IEngine engine) => MigrationWarmUp.StartForDestination(engine);

    /// <summary>
    /// Waits for a source to connect (as long as it takes, until <paramref name="cancel"/>) and reads the stream's
    /// header and configuration: the returned <see cref="ReceivedMigration"/> knows what machine to build, and
    /// <see cref="Lifecycle.Vm"/> (its <c>Incoming</c>) builds it and then receives RAM and state straight
    /// into it, so building costs no downtime. Any single read waits at most <paramref name="timeout"/>.
    /// </summary>
    public ReceivedMigration Accept(TimeSpan timeout, CancellationToken cancel = default)
    {
        Socket socket;
        using (cancel.Register(() => _listener.Dispose()))
        {
            try { socket = _listener.Accept(); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException)
            {
                cancel.ThrowIfCancellationRequested();
                throw new MigrationException($"cannot accept a migration on {LocalEndpoint}: {e.Message}", e);
            }
        }
        socket.NoDelay = true;
        socket.ReceiveTimeout = socket.SendTimeout = (int)Math.Min(int.MaxValue, timeout.TotalMilliseconds);
        string peer = socket.RemoteEndPoint?.ToString() ?? "the source";
        var channel = new MigrationChannel(new NetworkStream(socket, ownsSocket: true), peer);
        try
        {
            using (cancel.Register(() => socket.Dispose()))
            {
                channel.ReceiveHeader();
                var (type, payload) = channel.Receive("its configuration");
                if (type != MigrationSectionType.Config)
                    throw new MigrationException($"the migration stream from {peer} starts with a {type} section, not the configuration");
                var hello = JsonSerializer.Deserialize<MigrationHello>(payload.Span, SnapshotFormat.Json)
                    ?? throw new MigrationException($"the migration stream from {peer} holds an empty configuration");
                var config = CheckConfig(hello);
                MigrationWarmUp.Start(config);
                return new ReceivedMigration(channel, socket, hello with { Config = config }, timeout);
            }
        }
        catch (Exception e) when (IsStreamFailure(e))
        {
            throw Refuse(channel, socket, e, peer, timeout, cancel);
        }
    }

    /// <summary>
    /// <see cref="Accept"/>, then the whole stream into fresh guest RAM that the returned migration holds (and the
    /// machine built from it takes): for callers that want everything checked before building anything.
    /// </summary>
    public ReceivedMigration Receive(TimeSpan timeout, CancellationToken cancel = default)
    {
        var received = Accept(timeout, cancel);
        try
        {
            received.ReceiveAll(cancel);
            return received;
        }
        catch
        {
            received.Dispose();
            throw;
        }
    }

    internal static bool IsStreamFailure(Exception e) =>
        e is MigrationException or IOException or SocketException or ObjectDisposedException or JsonException
            or GuestMemoryException or FormatException or OperationCanceledException;

    /// <summary>
    /// Turns a failure while receiving into the <see cref="MigrationException"/> to throw, after telling the source why
    /// (when it can still hear it) and closing the connection. A cancellation stays an <see cref="OperationCanceledException"/>.
    /// </summary>
    internal static Exception Refuse(MigrationChannel channel, Socket socket, Exception e, string peer, TimeSpan timeout, CancellationToken cancel)
    {
        string reason = e switch
        {
            MigrationException or FormatException => e.Message,
            JsonException => $"the migration stream from {peer} holds a record this build cannot read: {e.Message}",
            IOException { InnerException: SocketException { SocketErrorCode: SocketError.TimedOut } } =>
                $"the migration stream from {peer} stalled: nothing for {timeout.TotalSeconds:0} s",
            OperationCanceledException => "the destination stopped before the migration completed",
            _ => $"the migration stream from {peer} broke: {(e is IOException { InnerException: { } inner } ? inner.Message : e.Message)}",
        };
        ReceivedMigration.TryRefuse(channel, reason);
        DrainUntilClosed(socket);
        channel.Dispose();
        if (cancel.IsCancellationRequested) return new OperationCanceledException(reason, e, cancel);
        return new MigrationException(reason, e);
    }

    // The disks must be here by the same paths (shared storage); the kernel need not be (the VM resumes, it does not boot).
    private static VmConfig CheckConfig(MigrationHello hello)
    {
        var config = hello.Config ?? throw new MigrationException("the migration stream holds no configuration");
        if (config.Version != VmConfig.CurrentVersion)
            throw new MigrationException($"the source's configuration is version {config.Version}; this build reads version {VmConfig.CurrentVersion}");
        if (config.MemoryBytes < VmConfig.MinMemory || config.MemoryBytes % MigrationFormat.PageSize != 0)
            throw new MigrationException($"the source's VM has {config.MemoryBytes} bytes of RAM, which this build cannot give it");
        ulong host = HostMemory.TotalBytes();
        if (host > 0 && config.MemoryBytes > host / 2 * 3)
            throw new MigrationException($"the VM's {MemorySize.Format(config.MemoryBytes)} of RAM is more than 150% of this host's {MemorySize.Format(host)}");
        config.Topology.Validated();
        foreach (var disk in config.Disks)
            if (!File.Exists(disk.Path))
                throw new MigrationException($"the VM's disk {disk.Path} is not here (migration needs its disks on shared storage, by the same path)");
        return config with { HoldInputUntilOutput = null };
    }

    // Closing with unread data would reset the connection, and the source might lose the refusal with it: read on
    // (briefly) until the source, having read the refusal, closes its end.
    internal static void DrainUntilClosed(Socket socket)
    {
        try
        {
            socket.Shutdown(SocketShutdown.Send);
            socket.ReceiveTimeout = 500;
            var buffer = new byte[64 * 1024];
            var until = Stopwatch.StartNew();
            while (until.Elapsed < TimeSpan.FromSeconds(2) && socket.Receive(buffer) > 0) { }
        }
        catch (Exception e) when (e is SocketException or ObjectDisposedException) { }
    }

    public void Dispose() => _listener.Dispose();
}
