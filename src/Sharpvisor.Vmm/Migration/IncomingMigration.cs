using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text.Json;
using Sharpvisor.Machine.Cpu;
using Sharpvisor.Machine.Memory;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Snapshots;

namespace Sharpvisor.Vmm.Migration;

/// <summary>
/// The receiving side (`run --incoming`): listens on a TCP endpoint, takes one migration stream, writes the pages
/// it carries into fresh guest RAM (pages never sent stay unallocated) and returns the VM's configuration, memory and
/// state as a <see cref="ReceivedMigration"/>, which <see cref="Lifecycle.VirtualMachine.Incoming"/> builds and runs.
/// A damaged, truncated or refused stream throws <see cref="MigrationException"/>; the source is told why when it
/// can still hear it, and keeps running.
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
    /// Waits for a source to connect (as long as it takes, until <paramref name="cancel"/>), then receives the whole
    /// stream; any single read waits at most <paramref name="timeout"/>. The source waits for the ack that
    /// <see cref="ReceivedMigration.Acknowledge"/> sends once the VM is built.
    /// </summary>
    public ReceivedMigration Receive(TimeSpan timeout, CancellationToken cancel = default)
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
        GuestMemory? memory = null;
        try
        {
            using (cancel.Register(() => socket.Dispose()))
            {
                var result = ReceiveStream(channel, peer, timeout, ref memory);
                memory = null; // the result owns it now
                return result;
            }
        }
        catch (Exception e) when (e is MigrationException or IOException or SocketException or ObjectDisposedException or JsonException
                                      or GuestMemoryException or FormatException)
        {
            string reason = e switch
            {
                MigrationException or FormatException => e.Message,
                JsonException => $"the migration stream from {peer} holds a record this build cannot read: {e.Message}",
                IOException { InnerException: SocketException { SocketErrorCode: SocketError.TimedOut } } =>
                    $"the migration stream from {peer} stalled: nothing for {timeout.TotalSeconds:0} s",
                _ => $"the migration stream from {peer} broke: {(e is IOException { InnerException: { } inner } ? inner.Message : e.Message)}",
            };
            ReceivedMigration.TryRefuse(channel, reason);
            DrainUntilClosed(socket);
            channel.Dispose();
            memory?.Dispose();
            cancel.ThrowIfCancellationRequested();
            throw new MigrationException(reason, e);
        }
    }

    private static ReceivedMigration ReceiveStream(MigrationChannel channel, string peer, TimeSpan timeout, ref GuestMemory? memory)
    {
        var clock = Stopwatch.StartNew();
        channel.ReceiveHeader();
        var (type, payload) = channel.Receive("its configuration");
        if (type != MigrationSectionType.Config)
            throw new MigrationException($"the migration stream from {peer} starts with a {type} section, not the configuration");
        var hello = JsonSerializer.Deserialize<MigrationHello>(payload.Span, SnapshotFormat.Json)
            ?? throw new MigrationException($"the migration stream from {peer} holds an empty configuration");
        var config = CheckConfig(hello);
        memory = GuestMemory.CreateX86(config.MemoryBytes);
        CheckLayout(hello, memory);
        var received = memory.Regions.Select(r => new DirtyPageBitmap(r.Size / MigrationFormat.PageSize)).ToArray();

        long pages = 0;
        int lastRound = 0;
        MigrationMachineState? state = null;
        while (true)
        {
            (type, payload) = channel.Receive(state is null ? "the VM's state" : "the end of the stream");
            switch (type)
            {
                case MigrationSectionType.Pages when state is null:
                    lastRound = ApplyPages(payload.Span, memory, received, peer, lastRound);
                    pages += BinaryPrimitives.ReadInt32LittleEndian(payload.Span[4..]);
                    break;
                case MigrationSectionType.State when state is null:
                    state = JsonSerializer.Deserialize<MigrationMachineState>(payload.Span, SnapshotFormat.Json)
                        ?? throw new MigrationException($"the migration stream from {peer} holds an empty VM state");
                    CheckState(state, config, peer);
                    break;
                case MigrationSectionType.End when state is not null:
                    if (payload.Length != 12) throw new MigrationException($"the migration stream from {peer} has a malformed end section");
                    long announced = BinaryPrimitives.ReadInt64LittleEndian(payload.Span[4..]);
                    if (announced != pages)
                        throw new MigrationException($"the migration stream from {peer} is incomplete: it announced {announced} pages, {pages} arrived");
                    return new ReceivedMigration(channel, hello with { Config = config }, memory, state, pages,
                        BinaryPrimitives.ReadInt32LittleEndian(payload.Span), channel.BytesReceived, clock.Elapsed);
                default:
                    throw new MigrationException($"the migration stream from {peer} has a {type} section out of order");
            }
        }
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

    private static void CheckLayout(MigrationHello hello, GuestMemory memory)
    {
        var here = memory.Regions.Select(r => $"0x{r.GuestPhysicalAddress:x}+0x{r.Size:x}");
        var there = hello.Regions.Select(r => r.Length == 2 ? $"0x{r[0]:x}+0x{r[1]:x}" : "?");
        if (!here.SequenceEqual(there))
            throw new MigrationException($"the source's RAM regions ({string.Join(", ", there)}) differ from this build's ({string.Join(", ", here)})");
    }

    private static void CheckState(MigrationMachineState state, VmConfig config, string peer)
    {
        var machine = state.Machine ?? throw new MigrationException($"the migration stream from {peer} holds no machine state");
        if (machine.Vcpus is null || machine.Vcpus.Length != config.Topology.VcpuCount)
            throw new MigrationException($"the migration stream from {peer} has {machine.Vcpus?.Length ?? 0} vCPU records for a {config.Topology.VcpuCount}-vCPU configuration");
        for (int i = 0; i < machine.Vcpus.Length; i++)
            if (machine.Vcpus[i].Version != CpuState.CurrentVersion)
                throw new MigrationException($"vCPU {i} comes as a version {machine.Vcpus[i].Version} CPU record; this build reads version {CpuState.CurrentVersion}");
    }

    /// <summary>Writes one Pages section into guest RAM; returns its round (rounds never go back).</summary>
    private static int ApplyPages(ReadOnlySpan<byte> payload, GuestMemory memory, DirtyPageBitmap[] received, string peer, int lastRound)
    {
        if (payload.Length < 8) throw new MigrationException($"the migration stream from {peer} has a malformed pages section");
        int round = BinaryPrimitives.ReadInt32LittleEndian(payload);
        int count = BinaryPrimitives.ReadInt32LittleEndian(payload[4..]);
        if (round < lastRound || round < 1)
            throw new MigrationException($"the migration stream from {peer} is damaged: pages of round {round} after round {lastRound}");
        if (count < 0 || count > MigrationFormat.PagesPerSection)
            throw new MigrationException($"the migration stream from {peer} is damaged: a pages section claims {count} pages");
        int offset = 8;
        for (int i = 0; i < count; i++)
        {
            if (payload.Length - offset < 8) throw new MigrationException($"the migration stream from {peer} has a pages section shorter than its {count} entries");
            ulong entry = BinaryPrimitives.ReadUInt64LittleEndian(payload[offset..]);
            offset += 8;
            bool zero = (entry & MigrationFormat.ZeroPageFlag) != 0;
            ulong gpa = (entry & ~MigrationFormat.ZeroPageFlag) * MigrationFormat.PageSize;
            var region = memory.FindRegion(gpa, MigrationFormat.PageSize)
                ?? throw new MigrationException($"the migration stream from {peer} sends page 0x{gpa:x}, which is not in guest RAM");
            ulong page = (gpa - region.GuestPhysicalAddress) / MigrationFormat.PageSize;
            var bitmap = received[region.Slot];
            if (zero)
            {
                // A page never sent is still unallocated zero; one that held data is given back.
                if (bitmap.IsDirty(page)) region.Discard(gpa, MigrationFormat.PageSize);
                continue;
            }
            if (payload.Length - offset < MigrationFormat.PageSize)
                throw new MigrationException($"the migration stream from {peer} has a pages section shorter than its {count} entries");
            payload.Slice(offset, MigrationFormat.PageSize).CopyTo(region.SpanAt(gpa, MigrationFormat.PageSize));
            bitmap.Words[page / 64] |= 1UL << (int)(page % 64);
            offset += MigrationFormat.PageSize;
        }
        if (offset != payload.Length) throw new MigrationException($"the migration stream from {peer} has {payload.Length - offset} stray bytes in a pages section");
        return round;
    }

    // Closing with unread data would reset the connection, and the source might lose the refusal with it: read on
    // (briefly) until the source, having read the refusal, closes its end.
    private static void DrainUntilClosed(Socket socket)
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
