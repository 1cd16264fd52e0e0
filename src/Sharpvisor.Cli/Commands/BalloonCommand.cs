using System.CommandLine;
using System.Net.Sockets;
using Sharpvisor.Vmm.Lifecycle;

namespace Sharpvisor.Cli.Commands;

/// <summary>
/// `sharpvisor balloon --control SOCK SIZE` sets how much RAM the guest keeps (QEMU's `balloon`: the balloon takes the
/// rest); `sharpvisor balloon --control SOCK --stats` prints the target, the balloon's size and the guest's latest
/// memory statistics. The VM must run with `--balloon` and `--control SOCK`.
/// </summary>
internal static class BalloonCommand
{
    public static Command Create()
    {
        var control = new Option<string>("--control") { Description = "The VM's control socket (as given to `run --control`).", Required = true };
        var size = new Argument<string?>("size") { Description = "RAM the guest keeps, e.g. 256M or 1G (the balloon takes the rest).", Arity = ArgumentArity.ZeroOrOne };
        var stats = new Option<bool>("--stats") { Description = "Print the target, the balloon's size and the guest's memory statistics." };
        var command = new Command("balloon", "Give guest memory back to the host (virtio-balloon) or show the guest's memory statistics.") { size, control, stats };
        command.SetAction(parse =>
        {
            string? target = parse.GetValue(size);
            bool wantStats = parse.GetValue(stats);
            if (target is null == !wantStats)
            {
                Console.Error.WriteLine("sharpvisor: give either a SIZE the guest keeps or --stats");
                return ExitCodes.BadArguments;
            }
            return Send(parse.GetValue(control)!, wantStats ? "balloon stats" : $"balloon {target}", wantStats);
        });
        return command;
    }

    private static int Send(string socket, string command, bool stats)
    {
        string reply;
        try
        {
            reply = VmControlServer.Send(socket, command, TimeSpan.FromSeconds(30));
        }
        catch (SocketException e)
        {
            Console.Error.WriteLine($"sharpvisor: cannot reach the VM at {socket}: {e.Message}");
            return ExitCodes.VmmError;
        }
        if (!reply.StartsWith("ok"))
        {
            Console.Error.WriteLine($"sharpvisor: {(reply.StartsWith("error ") ? reply[6..] : reply)}");
            return ExitCodes.VmmError;
        }
        string body = reply.Length > 3 ? reply[3..] : "";
        if (!stats)
        {
            Console.WriteLine(body);
            return 0;
        }
        // One "key: value" line per figure; byte counts also in MiB.
        foreach (string pair in body.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            int equals = pair.IndexOf('=');
            if (equals < 0) continue;
            string key = pair[..equals], value = pair[(equals + 1)..];
            bool bytes = key.EndsWith("-bytes") || key is "stat-free-memory" or "stat-total-memory" or "stat-available-memory" or "stat-disk-caches";
            Console.WriteLine(bytes && ulong.TryParse(value, out ulong n) ? $"{key}: {value} ({n / (1024.0 * 1024):0.0} MiB)" : $"{key}: {value}");
        }
        return 0;
    }
}
