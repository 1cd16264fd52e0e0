using System.Buffers.Binary;
using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Sharpvisor.Engines;
using Sharpvisor.Machine.Memory;
using Sharpvisor.Vmm.Lifecycle;
using Sharpvisor.Vmm.Snapshots;

namespace Sharpvisor.Vmm.Migration;

/// <summary>
/// The sending side of one live migration (pre-copy): with the engine's dirty log and the VMM's own on, it sends every
/// page the guest touched, then rounds of the pages dirtied meanwhile, measuring the bandwidth, until the remaining
/// ones fit the downtime budget (or the round limit is reached); then pauses the VM, sends the last pages and the
/// machine's state, and waits for the destination's ack. On any failure it turns dirty logging off, resumes the VM if
/// it paused it, and throws <see cref="MigrationException"/>: the VM goes on as before.
/// </summary>
internal sealed class MigrationSource
{
    private const int PageSize = MigrationFormat.PageSize;
    private static readonly TimeSpan ProgressInterval = TimeSpan.FromMilliseconds(100);

    private readonly MachineInstance _machine;
    private readonly Func<SnapshotManifest> _captureState;
    private readonly EngineKind _engine;
    private readonly StopLatch _latch;
    private readonly MigrationOptions _options;
    private readonly IProgress<MigrationProgress>? _progress;
    private readonly CancellationToken _cancel;
    private readonly Stopwatch _clock = new();
    private readonly byte[] _section = new byte[8 + MigrationFormat.PagesPerSection * (8 + PageSize)];
    private MigrationChannel? _channel;
    private Socket? _socket;
    private string _peer = "";
    private long _pagesSent, _zeroPages;
    private TimeSpan _sendingTime;
    private long _sendingBytes;
    private double _dirtyRate;
    private TimeSpan _lastProgress;

    /// <param name="captureState">The machine's records, taken as the VM takes them for a snapshot (host input held).</param>
    public MigrationSource(MachineInstance machine, Func<SnapshotManifest> captureState, EngineKind engine, StopLatch latch,
        MigrationOptions options, IProgress<MigrationProgress>? progress, CancellationToken cancel)
    {
        _machine = machine;
        _captureState = captureState;
        _engine = engine;
        _latch = latch;
        _options = options;
        _progress = progress;
        _cancel = cancel;
    }

    public MigrationSummary Run(string host, int port, bool vmWasPaused)
    {
        _clock.Start();
        _peer = host.Contains(':') ? $"[{host}]:{port}" : $"{host}:{port}";
        bool pausedHere = false;
        bool logging = false;
        try
        {
            Connect(host, port);
            var warmUp = MigrationWarmUp.StartForSource(_machine);
            var memory = _machine.Memory;
            var hello = new MigrationHello
            {
                Config = _machine.Config, SourceEngine = _engine,
                Regions = memory.Regions.Select(r => new[] { r.GuestPhysicalAddress, r.Size }).ToArray(),
            };
            _channel!.SendHeader();
            _channel.Send(MigrationSectionType.Config, JsonSerializer.SerializeToUtf8Bytes(hello, SnapshotFormat.Json));

            // Logging first, then the full copy: a page written after its copy is in the next round's log.
            _machine.EngineVm.SetDirtyLogging(true);
            foreach (var region in memory.Regions) region.StartVmmDirtyTracking();
            logging = true;
            var pending = memory.Regions.Select(TouchedPages).ToArray();
            var lastCollection = _clock.Elapsed;
            int round = 1;
            long remaining = Count(pending);
            while (true)
            {
                SendRound(MigrationPhase.PreCopy, round, pending, remaining);
                // The VM still runs: waiting for the warm-up costs total time, not downtime; before the next
                // collection, so the pages dirtied meanwhile are counted in the next round.
                if (round == 1) ((IAsyncResult)warmUp).AsyncWaitHandle.WaitOne(TimeSpan.FromSeconds(5));
                CheckStillWanted();
                var now = _clock.Elapsed;
                remaining = Collect(pending);
                _dirtyRate = remaining / Math.Max((now - lastCollection).TotalSeconds, 1e-6);
                lastCollection = now;
                var expected = ExpectedDowntime(remaining);
                Report(MigrationPhase.PreCopy, round, 0, remaining, remaining, expected, force: true);
                if (expected <= _options.MaxDowntime || round >= _options.MaxRounds) break;
                round++;
            }

            WaitUntilDestinationCaughtUp();
            round++;
            var downtime = Stopwatch.StartNew();
            if (!vmWasPaused)
            {
                if (!_machine.Pause()) throw new MigrationException("the VM stopped during the migration");
                pausedHere = true;
            }
            var pausing = downtime.Elapsed;
            remaining = Collect(pending);
            SendRound(MigrationPhase.StopAndCopy, round, pending, remaining);
            var lastPages = downtime.Elapsed;
            var state = new MigrationMachineState { Machine = _captureState(), Paused = vmWasPaused };
            _channel.Send(MigrationSectionType.State, JsonSerializer.SerializeToUtf8Bytes(state, SnapshotFormat.Json));
            Span<byte> end = stackalloc byte[12];
            BinaryPrimitives.WriteInt32LittleEndian(end, round);
            BinaryPrimitives.WriteInt64LittleEndian(end[4..], _pagesSent);
            _channel.Send(MigrationSectionType.End, end);
            _channel.Flush();
            var stateSent = downtime.Elapsed;
            Report(MigrationPhase.WaitingForDestination, round, 0, 0, 0, TimeSpan.Zero, force: true);
            WaitForAck();
            var total = downtime.Elapsed;
            var summary = new MigrationSummary(_peer, _clock.Elapsed, total, round, _channel.BytesSent, _pagesSent, _zeroPages,
                pausing, lastPages - pausing, stateSent - lastPages, total - stateSent);
            StopLogging(logging);
            return summary;
        }
        catch (Exception e) when (e is MigrationException or IOException or SocketException or ObjectDisposedException
                                      or OperationCanceledException or JsonException or SnapshotException or InvalidOperationException)
        {
            var reason = e switch
            {
                MigrationException => e.Message,
                OperationCanceledException => "the migration was cancelled",
                SnapshotException => $"the VM's state cannot be sent: {e.Message}",
                _ => BetterReason(e),
            };
            StopLogging(logging);
            if (pausedHere) _machine.Resume();
            throw new MigrationException(reason, e);
        }
        finally
        {
            _channel?.Dispose();
            _socket?.Dispose();
        }
    }

    /// <summary>
    /// Connects with a timeout without the thread pool (a non-blocking connect, then a poll): an async connect's
    /// completion waits for a pool thread, and a pool kept busy by blocking work would make it time out.
    /// </summary>
    private void Connect(string host, int port)
    {
        IPAddress[] addresses;
        try
        {
            addresses = IPAddress.TryParse(host, out var literal) ? [literal] : Dns.GetHostAddresses(host);
        }
        catch (SocketException e)
        {
            throw new MigrationException($"cannot connect to {_peer}: {e.Message}", e);
        }
        if (addresses.Length == 0) throw new MigrationException($"cannot connect to {_peer}: the name has no address");
        var deadline = DateTime.UtcNow + _options.Timeout;
        SocketException? last = null;
        foreach (var address in addresses)
        {
            _cancel.ThrowIfCancellationRequested();
            var socket = new Socket(address.AddressFamily, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true, Blocking = false };
            try
            {
                try { socket.Connect(address, port); }
                catch (SocketException e) when (e.SocketErrorCode is SocketError.WouldBlock or SocketError.InProgress) { }
                while (!socket.Poll(TimeSpan.FromMilliseconds(100), SelectMode.SelectWrite))
                {
                    _cancel.ThrowIfCancellationRequested();
                    if (DateTime.UtcNow > deadline)
                        throw new MigrationException($"cannot connect to {_peer}: no answer within {_options.Timeout.TotalSeconds:0} s");
                }
                var error = (SocketError)(int)socket.GetSocketOption(SocketOptionLevel.Socket, SocketOptionName.Error)!;
                if (error != SocketError.Success) throw new SocketException((int)error);
                socket.Blocking = true;
                _socket = socket;
                break;
            }
            catch (SocketException e)
            {
                socket.Dispose();
                last = e;
            }
            catch
            {
                socket.Dispose();
                throw;
            }
        }
        if (_socket is null) throw new MigrationException($"cannot connect to {_peer}: {last?.Message}", last);
        int ms = (int)Math.Min(int.MaxValue, _options.Timeout.TotalMilliseconds);
        _socket.SendTimeout = ms;
        _socket.ReceiveTimeout = ms;
        _channel = new MigrationChannel(new NetworkStream(_socket, ownsSocket: false), _peer);
    }

    // The pages to send first: those resident or swapped (ever touched), and those a snapshot this VM came from holds.
    private DirtyPageBitmap TouchedPages(GuestMemoryRegion region)
    {
        var touched = GuestMemoryImage.TouchedPages(region);
        if (_machine.RestoredMemoryRuns?.GetValueOrDefault(region.Slot) is { } runs)
            for (int i = 0; i + 1 < runs.Length; i += 2) touched.MarkRange(runs[i], runs[i + 1]);
        return touched;
    }

    /// <summary>ORs the pages dirtied since the last collection (by vCPUs and by devices) into <paramref name="pending"/>.</summary>
    private long Collect(DirtyPageBitmap[] pending)
    {
        var regions = _machine.Memory.Regions;
        for (int i = 0; i < regions.Count; i++)
        {
            var region = regions[i];
            _machine.EngineVm.CollectDirtyPages(region, pending[i]);
            // A fresh bitmap for devices from now on; the old one's marks go into this round.
            var devices = region.VmmDirtyPages;
            region.StartVmmDirtyTracking();
            if (devices is not null)
                for (int w = 0; w < devices.Words.Length; w++) pending[i].Words[w] |= Volatile.Read(ref devices.Words[w]);
        }
        return Count(pending);
    }

    private static long Count(DirtyPageBitmap[] bitmaps) => bitmaps.Sum(b => (long)b.CountDirty());

    /// <summary>Sends the pages marked in <paramref name="pages"/> (clearing the marks), in sections of up to 256.</summary>
    private void SendRound(MigrationPhase phase, int round, DirtyPageBitmap[] pages, long count)
    {
        var regions = _machine.Memory.Regions;
        var started = _clock.Elapsed;
        long bytesBefore = _channel!.BytesSent;
        long sent = 0;
        int entries = 0, offset = 8;
        BinaryPrimitives.WriteInt32LittleEndian(_section, round);
        Report(phase, round, 0, count, count, ExpectedDowntime(count), force: true);
        for (int i = 0; i < regions.Count; i++)
        {
            var region = regions[i];
            var words = pages[i].Words;
            ulong firstFrame = region.GuestPhysicalAddress / PageSize;
            for (int w = 0; w < words.Length; w++)
            {
                ulong bits = words[w];
                if (bits == 0) continue;
                words[w] = 0;
                while (bits != 0)
                {
                    int bit = System.Numerics.BitOperations.TrailingZeroCount(bits);
                    bits &= bits - 1;
                    ulong page = (ulong)w * 64 + (ulong)bit;
                    var data = region.SpanAt(region.GuestPhysicalAddress + page * PageSize, PageSize);
                    ulong frame = firstFrame + page;
                    if (data.ContainsAnyExcept((byte)0))
                    {
                        BinaryPrimitives.WriteUInt64LittleEndian(_section.AsSpan(offset), frame);
                        data.CopyTo(_section.AsSpan(offset + 8));
                        offset += 8 + PageSize;
                    }
                    else
                    {
                        BinaryPrimitives.WriteUInt64LittleEndian(_section.AsSpan(offset), frame | MigrationFormat.ZeroPageFlag);
                        offset += 8;
                        _zeroPages++;
                    }
                    sent++;
                    if (++entries == MigrationFormat.PagesPerSection)
                    {
                        FlushSection(ref entries, ref offset);
                        Report(phase, round, sent, count, count - sent, ExpectedDowntime(count - sent), force: false);
                    }
                }
            }
        }
        FlushSection(ref entries, ref offset);
        _sendingTime += _clock.Elapsed - started;
        _sendingBytes += _channel.BytesSent - bytesBefore;
        Report(phase, round, sent, count, 0, TimeSpan.Zero, force: true);
        _pagesSent += sent;
    }

    private void FlushSection(ref int entries, ref int offset)
    {
        if (entries == 0) return;
        BinaryPrimitives.WriteInt32LittleEndian(_section.AsSpan(4), entries);
        _channel!.Send(MigrationSectionType.Pages, _section.AsSpan(0, offset));
        entries = 0;
        offset = 8;
        CheckStillWanted();
    }

    /// <summary>Throws if the migration was cancelled, the VM stopped, or the destination sent an error meanwhile.</summary>
    private void CheckStillWanted()
    {
        _cancel.ThrowIfCancellationRequested();
        if (_latch.IsSet) throw new MigrationException($"the VM stopped during the migration ({_latch.Value?.Message})");
        if (_socket!.Available > 0) ReadRefusal();
    }

    // The destination spoke before the end: it can only be a refusal (or garbage).
    private void ReadRefusal()
    {
        var (type, payload) = _channel!.Receive("its reply");
        if (type == MigrationSectionType.Error)
            throw new MigrationException($"the destination {_peer} refused the migration: {Encoding.UTF8.GetString(payload.Span)}");
        throw new MigrationException($"the destination {_peer} sent a {type} section in the middle of the migration");
    }

    /// <summary>
    /// Sync and its answer: megabytes sent may still sit in socket buffers, unapplied; the destination working through
    /// them after the pause would be downtime. Waiting costs total time only (the VM still runs); what it dirties
    /// meanwhile goes in the last round.
    /// </summary>
    private void WaitUntilDestinationCaughtUp()
    {
        _channel!.Send(MigrationSectionType.Sync, []);
        _channel.Flush();
        var reply = ReceiveReply("confirming it has applied the pages", "did not confirm the pages sent");
        if (reply.Type != MigrationSectionType.Synced)
            throw new MigrationException($"the destination {_peer} answered a sync with a {reply.Type} section");
    }

    /// <summary>The destination's next section; an Error is its refusal, silence for the timeout is <paramref name="silence"/>.</summary>
    private (MigrationSectionType Type, ReadOnlyMemory<byte> Payload) ReceiveReply(string expecting, string silence)
    {
        (MigrationSectionType Type, ReadOnlyMemory<byte> Payload) reply;
        try
        {
            reply = _channel!.Receive(expecting);
        }
        catch (IOException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.TimedOut })
        {
            throw new MigrationException($"the destination {_peer} {silence} within {_options.Timeout.TotalSeconds:0} s");
        }
        if (reply.Type == MigrationSectionType.Error)
            throw new MigrationException($"the destination {_peer} refused the migration: {Encoding.UTF8.GetString(reply.Payload.Span)}");
        return reply;
    }

    private void WaitForAck()
    {
        var reply = ReceiveReply("acknowledging the migration", "did not acknowledge");
        if (reply.Type != MigrationSectionType.Ack)
            throw new MigrationException($"the destination {_peer} answered with a {reply.Type} section instead of an ack");
    }

    // A send that failed because the destination went away: if it said why before closing, that is the reason.
    private string BetterReason(Exception e)
    {
        if (e is IOException { InnerException: SocketException { SocketErrorCode: SocketError.TimedOut } })
            return $"the destination {_peer} stopped taking data for {_options.Timeout.TotalSeconds:0} s";
        try
        {
            if (_socket is { Connected: true } && _channel is not null && _socket.Poll(100_000, SelectMode.SelectRead) && _socket.Available > 0)
            {
                var (type, payload) = _channel.Receive("its reply");
                if (type == MigrationSectionType.Error)
                    return $"the destination {_peer} refused the migration: {Encoding.UTF8.GetString(payload.Span)}";
            }
        }
        catch (Exception inner) when (inner is IOException or SocketException or MigrationException or ObjectDisposedException) { }
        return $"the connection to {_peer} failed: {(e is IOException { InnerException: { } socket } ? socket.Message : e.Message)}";
    }

    private void StopLogging(bool logging)
    {
        if (!logging) return;
        try { _machine.EngineVm.SetDirtyLogging(false); }
        catch (EngineException) { } // the VM goes on either way; the log only costs it speed
        foreach (var region in _machine.Memory.Regions) region.StopVmmDirtyTracking();
    }

    private double BytesPerSecond => _sendingTime > TimeSpan.Zero ? _sendingBytes / _sendingTime.TotalSeconds : 0;

    /// <summary>What sending <paramref name="pages"/> would take at the bandwidth measured so far (full pages assumed).</summary>
    private TimeSpan ExpectedDowntime(long pages)
    {
        double rate = BytesPerSecond;
        if (pages == 0) return TimeSpan.Zero;
        if (rate <= 0) return TimeSpan.MaxValue;
        return TimeSpan.FromSeconds(pages * (double)(PageSize + 8) / rate);
    }

    private void Report(MigrationPhase phase, int round, long roundSent, long roundPages, long remaining, TimeSpan expected, bool force)
    {
        if (_progress is null) return;
        var now = _clock.Elapsed;
        if (!force && now - _lastProgress < ProgressInterval) return;
        _lastProgress = now;
        _progress.Report(new MigrationProgress(phase, round, roundSent, roundPages, _pagesSent + roundSent, _channel?.BytesSent ?? 0,
            _dirtyRate, BytesPerSecond, remaining, expected == TimeSpan.MaxValue ? TimeSpan.Zero : expected, now));
    }
}
