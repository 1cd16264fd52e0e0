using System.CommandLine;
using System.Globalization;
using System.Net.Sockets;
using System.Text.Json;
using Sharpvisor.Vmm.Lifecycle;
using Sharpvisor.Vmm.Migration;
using Sharpvisor.Vmm.Snapshots;

namespace Sharpvisor.Cli.Commands;

/// <summary>
/// `sharpvisor migrate --control SOCK --to HOST:PORT`: live-migrates the VM behind the control socket to a
/// `run --incoming` destination, drawing progress on stderr; with --json the summary goes to stdout as one line.
/// Exit 0 once the destination runs the VM (the source's `run` then exits 0 too); 3 on any failure, and the VM goes on.
/// </summary>
internal static class MigrateCommand
{
    public static Command Create()
    {
        var control = new Option<string>("--control") { Description = "The VM's control socket (as given to `run --control`).", Required = true };
        var to = new Option<string>("--to") { Description = "The destination, HOST:PORT, where `sharpvisor run --incoming PORT` waits.", Required = true };
        var maxDowntime = new Option<string>("--max-downtime") { Description = "Pause the VM for the last pages once they fit this at the measured rate: 50ms, 0.2s.", DefaultValueFactory = _ => "50ms" };
        var maxRounds = new Option<int>("--max-rounds") { Description = "Pre-copy rounds at most; then the VM pauses for whatever remains.", DefaultValueFactory = _ => 30 };
        var timeout = new Option<string>("--timeout") { Description = "How long connecting, any one send, or the wait for the destination's ack may take: 30s.", DefaultValueFactory = _ => "30s" };
        var json = new Option<bool>("--json") { Description = "Print the summary as one JSON line on stdout: status, total_ms, downtime_ms, rounds, bytes_sent, pages_sent, downtime_parts." };
        var command = new Command("migrate", """
            Live-migrate a running VM to another Sharpvisor (`run --incoming PORT` there; disks on shared storage by the
            same paths). Pre-copy rounds while the VM runs, then a short pause for the last pages and the vCPU and device
            state. Exit codes: 0 migrated (the source VM stops), 2 bad arguments, 3 failed (the source VM goes on).
            """)
        {
            control, to, maxDowntime, maxRounds, timeout, json,
        };
        command.SetAction(parse =>
        {
            string target = parse.GetValue(to)!;
            double downtimeMs, timeoutS;
            try
            {
                MigrationEndpoint.ParseTarget(target);
                downtimeMs = ParseDuration(parse.GetValue(maxDowntime)!).TotalMilliseconds;
                timeoutS = ParseDuration(parse.GetValue(timeout)!).TotalSeconds;
                new MigrationOptions
                {
                    MaxDowntime = TimeSpan.FromMilliseconds(downtimeMs), MaxRounds = parse.GetValue(maxRounds),
                    Timeout = TimeSpan.FromSeconds(timeoutS),
                }.Validated();
            }
            catch (FormatException e)
            {
                Console.Error.WriteLine($"sharpvisor: {e.Message}");
                return ExitCodes.BadArguments;
            }
            string request = string.Create(CultureInfo.InvariantCulture,
                $"migrate {target} downtime-ms={downtimeMs} rounds={parse.GetValue(maxRounds)} timeout-s={timeoutS}");
            return Migrate(parse.GetValue(control)!, request, parse.GetValue(json), TimeSpan.FromSeconds(timeoutS * 2 + 10));
        });
        return command;
    }

    private static int Migrate(string socket, string request, bool json, TimeSpan idleTimeout)
    {
        var bar = new ProgressLine();
        string reply;
        try
        {
            reply = VmControlServer.SendStreaming(socket, request, line => bar.Draw(line), idleTimeout);
        }
        catch (SocketException e)
        {
            return Failed($"cannot reach the VM at {socket}: {e.Message}", json, bar);
        }
        catch (IOException e)
        {
            return Failed($"the VM at {socket} stopped answering: {e.Message}", json, bar);
        }
        bar.End();
        if (!reply.StartsWith("ok ", StringComparison.Ordinal))
            return Failed(reply.StartsWith("error ", StringComparison.Ordinal) ? reply[6..] : reply, json, bar);
        var summary = MigrationSummary.FromJson(reply[3..]);
        Console.Error.WriteLine($"sharpvisor: migrated to {summary.Destination} in {summary.Total.TotalMilliseconds:0} ms, downtime {summary.Downtime.TotalMilliseconds:0.0} ms " +
                                $"(pause {summary.Pausing.TotalMilliseconds:0.0}, last pages {summary.LastPages.TotalMilliseconds:0.0}, " +
                                $"state {summary.State.TotalMilliseconds:0.0}, destination {summary.DestinationShare.TotalMilliseconds:0.0}), " +
                                $"{summary.Rounds} rounds, {summary.PagesSent} pages ({summary.BytesSent / (1024.0 * 1024.0):0.0} MiB on the wire)");
        if (json) Console.WriteLine(summary.ToJson());
        return 0;
    }

    private static int Failed(string reason, bool json, ProgressLine bar)
    {
        bar.End();
        Console.Error.WriteLine($"sharpvisor: the migration failed, the VM goes on: {reason}");
        if (json) Console.WriteLine(JsonSerializer.Serialize(new Dictionary<string, string> { ["status"] = "failed", ["reason"] = reason }));
        return ExitCodes.VmmError;
    }

    /// <summary>50ms, 0.2s, 1m, or a plain number of milliseconds.</summary>
    private static TimeSpan ParseDuration(string text)
    {
        string t = text.Trim().ToLowerInvariant();
        (string number, double scale) = t.EndsWith("ms") ? (t[..^2], 1.0) : t.EndsWith('s') ? (t[..^1], 1000.0)
            : t.EndsWith('m') ? (t[..^1], 60_000.0) : (t, 1.0);
        if (!double.TryParse(number, NumberStyles.Float, CultureInfo.InvariantCulture, out double value) || value < 0 || double.IsInfinity(value))
            throw new FormatException($"'{text}' is not a duration (50ms, 0.2s, 1m)");
        return TimeSpan.FromMilliseconds(value * scale);
    }

    /// <summary>One progress line on stderr, redrawn in place on a terminal; elsewhere one line per round.</summary>
    private sealed class ProgressLine
    {
        private const int Width = 24;
        private readonly bool _terminal = !Console.IsErrorRedirected;
        private bool _drawn;
        private (MigrationPhase, int) _lastLogged = (MigrationPhase.PreCopy, 0);

        public void Draw(string json)
        {
            MigrationProgress? p;
            try { p = JsonSerializer.Deserialize<MigrationProgress>(json, SnapshotFormat.Json); }
            catch (JsonException) { return; }
            if (p is null) return;
            double fraction = p.RoundPages > 0 ? Math.Clamp((double)p.RoundPagesSent / p.RoundPages, 0, 1) : 1;
            int filled = (int)Math.Round(fraction * Width);
            string phase = p.Phase switch
            {
                MigrationPhase.PreCopy => "pre-copy",
                MigrationPhase.StopAndCopy => "stop-and-copy",
                _ => "waiting for the destination",
            };
            string line = string.Create(CultureInfo.InvariantCulture,
                $"round {p.Round} [{new string('#', filled)}{new string('.', Width - filled)}] {p.MiBSent:0.0} MiB sent, " +
                $"{p.BytesPerSecond / (1024 * 1024):0} MiB/s, dirty {p.DirtyPagesPerSecond:0} pages/s, " +
                $"expected downtime {p.ExpectedDowntime.TotalMilliseconds:0.0} ms ({phase})");
            if (_terminal)
            {
                Console.Error.Write($"\r{line}\u001b[K");
                _drawn = true;
            }
            else if ((p.Phase, p.Round) != _lastLogged && p.RoundPagesSent == p.RoundPages)
            {
                _lastLogged = (p.Phase, p.Round);
                Console.Error.WriteLine($"sharpvisor: {line}");
            }
        }

        public void End()
        {
            if (!_drawn) return;
            Console.Error.WriteLine();
            _drawn = false;
        }
    }
}
