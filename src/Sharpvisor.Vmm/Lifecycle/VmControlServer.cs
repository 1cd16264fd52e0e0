using System.Globalization;
using System.Net.Sockets;
using System.Text;
using System.Text.Json;
using Sharpvisor.Vmm.Migration;
using Sharpvisor.Vmm.Snapshots;

namespace Sharpvisor.Vmm.Lifecycle;

/// <summary>
/// A VM's control channel, in the spirit of QEMU's monitor and virsh: a Unix socket the VMM listens on, one text
/// command per connection, one reply line. Commands: <c>status</c>, <c>stats</c> (device and vCPU counters as key=value pairs), <c>pause</c>, <c>resume [catch-up-clock]</c>,
/// <c>snapshot DIR</c> (the VM goes on afterwards, or stays paused if it was; its writable disks go on in overlays),
/// <c>save DIR</c> (snapshot, then stop), <c>disk-merge IMAGE</c> (its backing file merged in, for a deleted snapshot),
/// <c>stop</c>, <c>reset</c> (the machine reboots, as QEMU's system_reset), <c>powerdown</c> (the ACPI power button, as
/// QEMU's system_powerdown), <c>ctrl-alt-del</c> (the keys on the PS/2 keyboard), <c>balloon SIZE</c> (the guest keeps SIZE
/// of its RAM), <c>balloon stats</c> (target, actual and the guest's latest statistics as key=value pairs), and
/// <c>migrate HOST:PORT [downtime-ms=N] [rounds=N]</c>, which alone streams: a line <c>progress {json}</c> (<see cref="MigrationProgress"/>) now and then, and finally <c>ok {json}</c>
/// (<see cref="MigrationSummary.ToJson"/>) or <c>error REASON</c>; closing the connection cancels the migration.
/// Replies start with <c>ok</c> or <c>error</c>. Each connection is served on its own thread, so <c>status</c> answers
/// during a migration. The socket is created with mode 0600 (the owner only).
/// </summary>
public sealed class VmControlServer : IDisposable
{
    private readonly Vm _vm;
    private readonly string _path;
    private readonly Socket _listener;
    private volatile bool _disposed;
    private readonly object _commandsLock = new();
    private int _commandsRunning; // commands read and not yet answered (guarded by _commandsLock)
    private readonly HashSet<Socket> _clients = []; // open connections (guarded by _commandsLock)
    private static readonly TimeSpan ReplyGrace = TimeSpan.FromSeconds(5);

    public VmControlServer(Vm vm, string path)
    {
        _vm = vm;
        _path = Path.GetFullPath(path);
        Directory.CreateDirectory(Path.GetDirectoryName(_path)!);
        if (File.Exists(_path)) File.Delete(_path);
        _listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        _listener.Bind(new UnixDomainSocketEndPoint(_path));
        File.SetUnixFileMode(_path, UnixFileMode.UserRead | UnixFileMode.UserWrite);
        _listener.Listen(4);
        new Thread(Serve) { IsBackground = true, Name = "VM control" }.Start();
    }

    private void Serve()
    {
        while (!_disposed)
        {
            Socket client;
            try { client = _listener.Accept(); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { return; }
            lock (_commandsLock)
            {
                if (_disposed)
                {
                    client.Dispose();
                    return;
                }
                _clients.Add(client);
            }
            new Thread(() => ServeClient(client)) { IsBackground = true, Name = "VM control client" }.Start();
        }
    }

    private void ServeClient(Socket client)
    {
        using (client)
        {
            try
            {
                string command = ReadLine(client);
                lock (_commandsLock) _commandsRunning++;
                try
                {
                    if (command.Split(' ', 2)[0] == "migrate") Migrate(command, client);
                    else client.Send(Encoding.UTF8.GetBytes(Execute(command) + "\n"));
                }
                finally
                {
                    lock (_commandsLock)
                    {
                        _commandsRunning--;
                        Monitor.PulseAll(_commandsLock);
                    }
                }
            }
            catch (Exception e) when (e is SocketException or ObjectDisposedException or IOException) { }
            finally
            {
                lock (_commandsLock) _clients.Remove(client);
            }
        }
    }

    /// <summary>
    /// Runs <c>migrate HOST:PORT [downtime-ms=N] [rounds=N] [timeout-s=N]</c>, writing each line of the reply through
    /// <paramref name="client"/>; if the client goes away the migration is cancelled (the VM goes on here).
    /// </summary>
    private void Migrate(string command, Socket client)
    {
        using var cancel = new CancellationTokenSource();
        void SendLine(string line)
        {
            try { client.Send(Encoding.UTF8.GetBytes(line + "\n")); }
            catch (Exception e) when (e is SocketException or ObjectDisposedException) { cancel.Cancel(); }
        }
        string host;
        int port;
        MigrationOptions options;
        try
        {
            (host, port, options) = ParseMigrate(command);
        }
        catch (FormatException e)
        {
            SendLine($"error {e.Message}");
            return;
        }
        var progress = new InlineProgress<MigrationProgress>(p => SendLine("progress " + JsonSerializer.Serialize(p, SnapshotFormat.Json)));
        try
        {
            var summary = _vm.MigrateTo(host, port, options, progress, cancel.Token);
            SendLine("ok " + summary.ToJson());
        }
        catch (Exception e) when (e is MigrationException or InvalidOperationException)
        {
            SendLine($"error {e.Message}");
        }
    }

    private static (string Host, int Port, MigrationOptions Options) ParseMigrate(string command)
    {
        var words = command.Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (words.Length < 2) throw new FormatException("migrate needs HOST:PORT");
        var (host, port) = MigrationEndpoint.ParseTarget(words[1]);
        var options = new MigrationOptions();
        foreach (var word in words.Skip(2))
        {
            var (key, value) = word.Split('=', 2) is [var k, var v] ? (k, v) : throw new FormatException($"'{word}' is not KEY=VALUE");
            if (!double.TryParse(value, NumberStyles.Float, CultureInfo.InvariantCulture, out double number))
                throw new FormatException($"'{word}': not a number");
            options = key switch
            {
                "downtime-ms" => options with { MaxDowntime = TimeSpan.FromMilliseconds(number) },
                "rounds" => options with { MaxRounds = (int)number },
                "timeout-s" => options with { Timeout = TimeSpan.FromSeconds(number) },
                _ => throw new FormatException($"unknown migrate option '{key}' (downtime-ms, rounds, timeout-s)"),
            };
        }
        return (host, port, options.Validated());
    }

    /// <summary>Runs one command line against the VM and returns the reply line.</summary>
    public string Execute(string command)
    {
        string verb = command.Split(' ', 2)[0];
        string argument = command.Length > verb.Length ? command[(verb.Length + 1)..].Trim() : "";
        try
        {
            switch (verb)
            {
                case "status":
                    return $"ok {_vm.State.ToString().ToLowerInvariant()}";
                case "pause":
                    _vm.Pause();
                    return "ok paused";
                case "resume" when argument is "" or "catch-up-clock":
                    _vm.Resume(catchUpClock: argument.Length > 0);
                    return "ok running";
                case "resume":
                    return $"error resume takes no argument but catch-up-clock, not '{argument}'";
                case "snapshot" or "save" when argument.Length > 0:
                    var result = _vm.SaveSnapshot(argument, stopAfter: verb == "save");
                    return $"ok {(verb == "save" ? "saved and stopping" : _vm.State.ToString().ToLowerInvariant())}: {result.Directory}, " +
                           $"{result.StoredPages} pages ({result.StoredBytes / 1024} KiB), vCPUs stopped {result.Total.TotalMilliseconds:0} ms " +
                           $"(write {result.Writing.TotalMilliseconds:0} ms)";
                case "snapshot" or "save":
                    return $"error {verb} needs a directory";
                case "disk-merge" when argument.Length > 0:
                    return $"ok merged {_vm.MergeDiskLayer(argument)} clusters into {argument}";
                case "disk-merge":
                    return "error disk-merge needs the image to merge its backing file into";
                case "stats":
                    return _vm.Statistics() is { } statistics ? $"ok {statistics.Format()}" : "error the VM has no machine yet";
                case "balloon" when argument == "stats":
                    return BalloonReport();
                case "balloon" when argument.Length > 0:
                    ulong keep = Configuration.MemorySize.Parse(argument);
                    _vm.SetBalloonTarget(keep);
                    return $"ok balloon target {Configuration.MemorySize.Format(_vm.Config.MemoryBytes - keep)}, the guest keeps {Configuration.MemorySize.Format(keep)}";
                case "balloon":
                    return "error balloon needs a size the guest keeps (e.g. 256M) or 'stats'";
                case "stop":
                    _vm.Stop("stopped through the control socket");
                    return "ok stopping";
                case "reset":
                    _vm.Reset();
                    return _vm.Config.NoReboot ? "ok resetting (--no-reboot: the run ends)" : "ok resetting";
                case "powerdown":
                    _vm.PressPowerButton();
                    return "ok power button pressed";
                case "ctrl-alt-del":
                    _vm.SendCtrlAltDel();
                    return "ok Ctrl-Alt-Del sent";
                case "migrate":
                    return "error migrate streams its reply: send it over the socket";
                default:
                    return $"error unknown command '{verb}' (status, stats, pause, resume [catch-up-clock], snapshot DIR, save DIR, disk-merge IMAGE, balloon SIZE|stats, reset, powerdown, ctrl-alt-del, stop, migrate HOST:PORT)";
            }
        }
        catch (Exception e) when (e is InvalidOperationException or FormatException or SnapshotException or IOException or UnauthorizedAccessException)
        {
            return $"error {e.Message}";
        }
    }

    // Fresh figures if the driver answers within a second (it refills the statistics buffer the device hands back).
    private string BalloonReport()
    {
        if (!_vm.Config.BalloonDevice) return "error the VM has no balloon device (run it with --balloon)";
        if (_vm.Balloon is not { } balloon) return "error the VM is not running";
        long before = balloon.Statistics?.Sequence ?? 0;
        if (balloon.RequestStatistics())
        {
            var deadline = Environment.TickCount64 + 1000;
            while ((balloon.Statistics?.Sequence ?? 0) == before && Environment.TickCount64 < deadline) Thread.Sleep(10);
        }
        var reply = new StringBuilder("ok");
        reply.Append($" target-bytes={(ulong)balloon.TargetPages * 4096} actual-bytes={(ulong)balloon.ActualPages * 4096}");
        reply.Append($" guest-bytes={_vm.Config.MemoryBytes - Math.Min(_vm.Config.MemoryBytes, (ulong)balloon.ActualPages * 4096)}");
        reply.Append($" inflated-pages={balloon.PagesReturned} deflated-pages={balloon.PagesDeflated} reported-pages={balloon.PagesReported}");
        if (_vm.GuestResidentBytes is { } resident) reply.Append($" host-resident-bytes={resident}");
        if (balloon.Statistics is { } stats)
        {
            reply.Append($" stats-age-ms={(long)(DateTimeOffset.UtcNow - stats.ReceivedAt).TotalMilliseconds}");
            foreach (var (tag, value) in stats.Values.OrderBy(p => p.Key))
                reply.Append($" {Machine.Devices.Virtio.VirtioBalloonStatistics.NameOf(tag)}={value}");
        }
        return reply.ToString();
    }

    /// <summary>
    /// Sends <paramref name="command"/> and reads reply lines until one that does not start with <c>progress </c>:
    /// each progress line's rest goes to <paramref name="onProgress"/>; the final line is returned. For <c>migrate</c>.
    /// </summary>
    public static string SendStreaming(string path, string command, Action<string> onProgress, TimeSpan idleTimeout)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.ReceiveTimeout = (int)idleTimeout.TotalMilliseconds;
        socket.Connect(new UnixDomainSocketEndPoint(path));
        socket.Send(Encoding.UTF8.GetBytes(command + "\n"));
        using var reader = new StreamReader(new NetworkStream(socket, ownsSocket: false), Encoding.UTF8);
        while (true)
        {
            string? line = reader.ReadLine();
            if (line is null) return "error the VM closed the control connection without a reply";
            if (line.StartsWith("progress ", StringComparison.Ordinal)) onProgress(line["progress ".Length..]);
            else return line.Trim();
        }
    }

    private static string ReadLine(Socket client)
    {
        var bytes = new List<byte>();
        var buffer = new byte[256];
        while (bytes.Count < 4096)
        {
            int n = client.Receive(buffer);
            if (n == 0) break;
            int newline = Array.IndexOf(buffer, (byte)'\n', 0, n);
            bytes.AddRange(buffer.AsSpan(0, newline >= 0 ? newline : n).ToArray());
            if (newline >= 0) break;
        }
        return Encoding.UTF8.GetString(bytes.ToArray()).Trim();
    }

    /// <summary>Sends <paramref name="command"/> to the VM whose control socket is <paramref name="path"/>; returns its reply.</summary>
    public static string Send(string path, string command, TimeSpan timeout)
    {
        using var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        socket.ReceiveTimeout = (int)timeout.TotalMilliseconds;
        socket.Connect(new UnixDomainSocketEndPoint(path));
        socket.Send(Encoding.UTF8.GetBytes(command + "\n"));
        return ReadLine(socket);
    }

    /// <summary>
    /// Stops listening, gives commands already running a few seconds to answer (a migration ends the VM, and so the
    /// VMM, as it completes, and its summary must still reach the client that asked for it), then closes every
    /// connection still open.
    /// </summary>
    public void Dispose()
    {
        var deadline = DateTime.UtcNow + ReplyGrace;
        lock (_commandsLock)
        {
            _disposed = true;
            _listener.Dispose();
            while (_commandsRunning > 0 && DateTime.UtcNow < deadline)
                Monitor.Wait(_commandsLock, deadline - DateTime.UtcNow is var left && left > TimeSpan.Zero ? left : TimeSpan.Zero);
            foreach (var client in _clients) client.Dispose();
            _clients.Clear();
        }
        try { File.Delete(_path); } catch (IOException) { }
    }
}
