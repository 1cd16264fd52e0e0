using System.Net.WebSockets;
using Sharpvisor.Host.Supervision;

namespace Sharpvisor.Api.Rest.Routes;

/// <summary>
/// /1.0/instances/{name}/console: a websocket upgrade attaches to the live console (binary frames, raw bytes both
/// ways); a plain GET returns the console log (the newest output, kept across guest reboots).
/// </summary>
internal static class ConsoleEndpoints
{
    public static async Task<IResult> Get(string name, HttpContext context, InstanceManager manager)
    {
        if (!context.WebSockets.IsWebSocketRequest)
            return Results.Bytes(manager.ConsoleLog(name), "application/octet-stream");
        var (output, input) = manager.AttachConsole(name);
        using (output)
        {
            using var socket = await context.WebSockets.AcceptWebSocketAsync().ConfigureAwait(false);
            using var closed = CancellationTokenSource.CreateLinkedTokenSource(context.RequestAborted);
            var fromGuest = Task.Run(async () =>
            {
                try
                {
                    await foreach (var chunk in output.Output.ReadAllAsync(closed.Token).ConfigureAwait(false))
                        await socket.SendAsync(chunk, WebSocketMessageType.Binary, true, closed.Token).ConfigureAwait(false);
                    await socket.CloseOutputAsync(WebSocketCloseStatus.NormalClosure, "the VM's console closed", CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception e) when (e is OperationCanceledException or WebSocketException) { }
            });
            var buffer = new byte[4096];
            try
            {
                while (socket.State == WebSocketState.Open)
                {
                    var received = await socket.ReceiveAsync(buffer, closed.Token).ConfigureAwait(false);
                    if (received.MessageType == WebSocketMessageType.Close) break;
                    await input(buffer.AsMemory(0, received.Count), closed.Token).ConfigureAwait(false);
                }
            }
            catch (Exception e) when (e is OperationCanceledException or WebSocketException or IOException) { }
            closed.Cancel();
            await fromGuest.ConfigureAwait(false);
        }
        return Results.Empty;
    }
}
