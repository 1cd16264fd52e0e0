using System.Buffers.Binary;
using System.Diagnostics;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Sharpvisor.Engines;
using Sharpvisor.Machine.Cpu;
using Sharpvisor.Machine.Memory;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Snapshots;

namespace Sharpvisor.Vmm.Migration;

/// <summary>
/// A VM arriving over a migration stream, not yet running. After <see cref="IncomingMigration.Accept"/> it knows the
/// source's configuration; <see cref="ReceiveInto"/> then writes the pages into the RAM of the machine built from
/// that configuration and reads the machine state (<see cref="HasArrived"/>). The connection to the source stays open:
/// the source waits for <see cref="Acknowledge"/> (or <see cref="Refuse"/>). Give it to
/// <see cref="Lifecycle.Vm.Incoming"/>.
/// </summary>
public sealed class ReceivedMigration : IDisposable
{
    private readonly MigrationChannel _channel;
    private readonly Socket _socket;
    private readonly MigrationHello _hello;
    private readonly TimeSpan _timeout;
    private readonly Stopwatch _clock = Stopwatch.StartNew();
    private GuestMemory? _memory;

    internal ReceivedMigration(MigrationChannel channel, Socket socket, MigrationHello hello, TimeSpan timeout)
    {
        _channel = channel;
        _socket = socket;
        _hello = hello;
        _timeout = timeout;
    }

    /// <summary>The source's configuration (its serial target is the source's: the caller replaces it).</summary>
    public VmConfig Config => _hello.Config;
    public EngineKind SourceEngine => _hello.SourceEngine;
    public string Source => _channel.Peer;
    /// <summary>The stream has been received whole: RAM, the machine state, the end.</summary>
    public bool HasArrived => Machine is not null;
    /// <summary>vCPUs, devices and clock, as a snapshot holds them (its memory image is empty: RAM came as pages).</summary>
    public SnapshotManifest? Machine { get; private set; }
    /// <summary>The VM was paused on the source; it starts paused here too.</summary>
    public bool Paused { get; private set; }
    public long PagesReceived { get; private set; }
    public int Rounds { get; private set; }
    public long BytesReceived => _channel.BytesReceived;
    /// <summary>From the source's first byte to its last.</summary>
    public TimeSpan Elapsed { get; private set; }

    /// <summary>Receives the rest of the stream into fresh guest RAM that this object holds until a machine takes it.</summary>
    internal void ReceiveAll(CancellationToken cancel)
    {
        _memory = GuestMemory.CreateX86(Config.MemoryBytes);
        ReceiveInto(_memory, cancel);
    }

    /// <summary>Guest RAM received by <see cref="ReceiveAll"/>, handed to the machine being built (once); null if none.</summary>
    internal GuestMemory? TakeMemory() => Interlocked.Exchange(ref _memory, null);

    /// <summary>
    /// Receives the pages (into <paramref name="memory"/>, which has the configuration's layout), the machine state
    /// and the end of the stream. A damaged or stalled stream, or <paramref name="cancel"/>, tells the source why and
    /// throws <see cref="MigrationException"/> (or <see cref="OperationCanceledException"/>).
    /// </summary>
    public void ReceiveInto(GuestMemory memory, CancellationToken cancel = default)
    {
        if (HasArrived) throw new InvalidOperationException("the migration was already received");
        try
        {
            using (cancel.Register(() => _socket.Dispose()))
                ReceiveStream(memory);
        }
        catch (Exception e) when (IncomingMigration.IsStreamFailure(e))
        {
            Machine = null;
            throw IncomingMigration.Refuse(_channel, _socket, e, Source, _timeout, cancel);
        }
    }

    private void ReceiveStream(GuestMemory memory)
    {
        string peer = Source;
        CheckLayout(_hello, memory);
        var received = memory.Regions.Select(r => new DirtyPageBitmap(r.Size / MigrationFormat.PageSize)).ToArray();
        long pages = 0;
        int lastRound = 0;
        MigrationMachineState? state = null;
        bool synced = false;
        while (true)
        {
            var (type, payload) = _channel.Receive(state is null ? "the VM's state" : "the end of the stream");
            switch (type)
            {
                case MigrationSectionType.Pages when state is null:
                    lastRound = ApplyPages(payload.Span, memory, received, peer, lastRound);
                    pages += BinaryPrimitives.ReadInt32LittleEndian(payload.Span[4..]);
                    break;
                case MigrationSectionType.Sync when state is null && !synced:
                    if (payload.Length != 0) throw new MigrationException($"the migration stream from {peer} has a malformed sync section");
                    _channel.Send(MigrationSectionType.Synced, []);
                    _channel.Flush();
                    synced = true;
                    break;
                case MigrationSectionType.State when state is null:
                    state = JsonSerializer.Deserialize<MigrationMachineState>(payload.Span, SnapshotFormat.Json)
                        ?? throw new MigrationException($"the migration stream from {peer} holds an empty VM state");
                    CheckState(state, Config, peer);
                    break;
                case MigrationSectionType.End when state is not null:
                    if (payload.Length != 12) throw new MigrationException($"the migration stream from {peer} has a malformed end section");
                    long announced = BinaryPrimitives.ReadInt64LittleEndian(payload.Span[4..]);
                    if (announced != pages)
                        throw new MigrationException($"the migration stream from {peer} is incomplete: it announced {announced} pages, {pages} arrived");
                    Rounds = BinaryPrimitives.ReadInt32LittleEndian(payload.Span);
                    PagesReceived = pages;
                    Paused = state.Paused;
                    Elapsed = _clock.Elapsed;
                    Machine = state.Machine;
                    return;
                default:
                    throw new MigrationException($"the migration stream from {peer} has a {type} section out of order");
            }
        }
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
            FreshPageCopy.Copy(payload.Slice(offset, MigrationFormat.PageSize), region.SpanAt(gpa, MigrationFormat.PageSize));
            bitmap.Words[page / 64] |= 1UL << (int)(page % 64);
            offset += MigrationFormat.PageSize;
        }
        if (offset != payload.Length) throw new MigrationException($"the migration stream from {peer} has {payload.Length - offset} stray bytes in a pages section");
        return round;
    }

    /// <summary>Tells the source the VM is built and runs here, so it stops; throws <see cref="MigrationException"/> if it cannot hear.</summary>
    public void Acknowledge()
    {
        try
        {
            _channel.Send(MigrationSectionType.Ack, []);
            _channel.Flush();
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException)
        {
            throw new MigrationException($"the source {Source} went away before the handover: {e.Message}", e);
        }
    }

    /// <summary>
    /// Tells the source why the VM cannot run here (it then keeps running), best effort, and reads on until it hangs
    /// up: it may still be sending pages, and closing on unread data would reset the connection and lose the reason.
    /// </summary>
    public void Refuse(string reason)
    {
        TryRefuse(_channel, reason);
        IncomingMigration.DrainUntilClosed(_socket);
    }

    internal static void TryRefuse(MigrationChannel channel, string reason)
    {
        try
        {
            channel.Send(MigrationSectionType.Error, Encoding.UTF8.GetBytes(reason));
            channel.Flush();
        }
        catch (Exception e) when (e is IOException or SocketException or ObjectDisposedException) { }
    }

    public void Dispose()
    {
        _channel.Dispose();
        Interlocked.Exchange(ref _memory, null)?.Dispose();
    }
}
