using System.CommandLine;
using System.Net.WebSockets;
using Sharpvisor.Cli.Client;
using Sharpvisor.Vmm.Serial;

namespace Sharpvisor.Cli.Commands;

/// <summary>
/// `sharpvisor vm console NAME`: the VM's serial console through the daemon's websocket, raw as in `run` (Ctrl-A x
/// detaches; the VM goes on). Piped stdin is typed in and the command ends when it is used up and output goes quiet.
/// `--log` prints the console log instead.
/// </summary>
internal static class ConsoleCommand
{
    public static Command Create(ClientOptions client)
    {
        var name = new Argument<string>("name") { Description = "The VM's name." };
        var log = new Option<bool>("--log") { Description = "Print the console log (its newest output, kept across reboots) and exit." };
        var quiet = new Option<double>("--quiet-seconds") { Description = "With piped input: end this long after the input is used up and the guest stops printing.", DefaultValueFactory = _ => 3 };
        var command = client.AddTo(new Command("console", "Attach to the VM's serial console (Ctrl-A x detaches).") { name, log, quiet });
        command.SetAction(parse => client.Run(parse, async (daemon, _) =>
        {
            string vm = parse.GetValue(name)!;
            if (parse.GetValue(log))
            {
                using var stdout = Console.OpenStandardOutput();
                stdout.Write(await daemon.GetBytesAsync($"/1.0/instances/{vm}/console").ConfigureAwait(false));
                return 0;
            }
            return await AttachAsync(daemon, vm, TimeSpan.FromSeconds(parse.GetValue(quiet))).ConfigureAwait(false);
        }));
        return command;
    }

    private static async Task<int> AttachAsync(DaemonClient daemon, string vm, TimeSpan quietAfterInput)
    {
        using var detach = new CancellationTokenSource();
        using var socket = await daemon.OpenWebSocketAsync($"/1.0/instances/{vm}/console", detach.Token).ConfigureAwait(false);
        using var terminal = RawTerminal.TryEnter();
        if (terminal is not null) Console.Error.Write($"sharpvisor: console of {vm}; Ctrl-A x detaches\r\n");
        long lastOutput = Environment.TickCount64;
        bool inputDone = false;
        var output = Task.Run(async () =>
        {
            using var stdout = Console.OpenStandardOutput();
            var buffer = new byte[4096];
            try
            {
                while (true)
                {
                    var received = await socket.ReceiveAsync(buffer, detach.Token).ConfigureAwait(false);
                    if (received.MessageType == WebSocketMessageType.Close) return;
                    stdout.Write(buffer, 0, received.Count);
                    stdout.Flush();
                    Interlocked.Exchange(ref lastOutput, Environment.TickCount64);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or WebSocketException) { }
        });
        var input = Task.Run(async () =>
        {
            using var stdin = Console.OpenStandardInput();
            var filter = new ConsoleEscapeFilter();
            var buffer = new byte[1024];
            var toGuest = new byte[1024];
            while (true)
            {
                int n = await stdin.ReadAsync(buffer, detach.Token).ConfigureAwait(false);
                if (n == 0) break;
                int m = filter.Filter(buffer.AsSpan(0, n), toGuest, out var escape);
                if (m > 0) await socket.SendAsync(toGuest.AsMemory(0, m), WebSocketMessageType.Binary, true, detach.Token).ConfigureAwait(false);
                if (escape == ConsoleEscapeFilter.Command.Quit) { detach.Cancel(); return; }
                if (escape == ConsoleEscapeFilter.Command.Help) Console.Error.Write("\r\nsharpvisor: Ctrl-A x detaches, Ctrl-A Ctrl-A sends Ctrl-A\r\n");
            }
            inputDone = true;
        });
        while (!output.IsCompleted && !detach.IsCancellationRequested)
        {
            await Task.WhenAny(output, Task.Delay(200)).ConfigureAwait(false);
            // Piped input: once it is all sent and the guest has been quiet a while, the session is over.
            if (inputDone && terminal is null && Environment.TickCount64 - Interlocked.Read(ref lastOutput) > quietAfterInput.TotalMilliseconds) break;
        }
        detach.Cancel();
        try { await socket.CloseAsync(WebSocketCloseStatus.NormalClosure, "detached", CancellationToken.None).ConfigureAwait(false); }
        catch (Exception e) when (e is WebSocketException or ObjectDisposedException) { }
        terminal?.Dispose();
        return 0;
    }
}
