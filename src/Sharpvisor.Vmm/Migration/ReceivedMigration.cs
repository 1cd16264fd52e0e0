using System.Text;
using Sharpvisor.Engines;
using Sharpvisor.Machine.Memory;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Snapshots;

namespace Sharpvisor.Vmm.Migration;

/// <summary>
/// A VM that arrived over a migration stream, not yet running: its configuration, its RAM (filled with the pages
/// sent), its machine state, and the connection to the source, which waits for <see cref="Acknowledge"/> (or
/// <see cref="Refuse"/>). Give it to <see cref="Lifecycle.VirtualMachine.Incoming"/>; the machine built from it takes
/// the memory.
/// </summary>
public sealed class ReceivedMigration : IDisposable
{
    private readonly MigrationChannel _channel;
    private GuestMemory? _memory;

    internal ReceivedMigration(MigrationChannel channel, MigrationHello hello, GuestMemory memory, MigrationMachineState state,
        long pages, int rounds, long bytes, TimeSpan elapsed)
    {
        _channel = channel;
        _memory = memory;
        Config = hello.Config;
        SourceEngine = hello.SourceEngine;
        Machine = state.Machine;
        Paused = state.Paused;
        PagesReceived = pages;
        Rounds = rounds;
        BytesReceived = bytes;
        Elapsed = elapsed;
    }

    /// <summary>The source's configuration (its serial target is the source's: the caller replaces it).</summary>
    public VmConfig Config { get; }
    public EngineKind SourceEngine { get; }
    /// <summary>vCPUs, devices and clock, as a snapshot holds them (its memory image is empty: RAM came as pages).</summary>
    public SnapshotManifest Machine { get; }
    /// <summary>The VM was paused on the source; it starts paused here too.</summary>
    public bool Paused { get; }
    public long PagesReceived { get; }
    public int Rounds { get; }
    public long BytesReceived { get; }
    /// <summary>From the source's first byte to its last.</summary>
    public TimeSpan Elapsed { get; }
    public string Source => _channel.Peer;

    /// <summary>Hands guest RAM to the machine being built (once).</summary>
    internal GuestMemory TakeMemory() =>
        Interlocked.Exchange(ref _memory, null) ?? throw new InvalidOperationException("the received memory was already taken");

    /// <summary>Tells the source the VM is built and runs here, so it stops; throws <see cref="MigrationException"/> if it cannot hear.</summary>
    public void Acknowledge()
    {
        try
        {
            _channel.Send(MigrationSectionType.Ack, []);
            _channel.Flush();
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or ObjectDisposedException)
        {
            throw new MigrationException($"the source {Source} went away before the handover: {e.Message}", e);
        }
    }

    /// <summary>Tells the source why the VM cannot run here (it then keeps running); best effort.</summary>
    public void Refuse(string reason) => TryRefuse(_channel, reason);

    internal static void TryRefuse(MigrationChannel channel, string reason)
    {
        try
        {
            channel.Send(MigrationSectionType.Error, Encoding.UTF8.GetBytes(reason));
            channel.Flush();
        }
        catch (Exception e) when (e is IOException or System.Net.Sockets.SocketException or ObjectDisposedException) { }
    }

    public void Dispose()
    {
        _channel.Dispose();
        Interlocked.Exchange(ref _memory, null)?.Dispose();
    }
}
