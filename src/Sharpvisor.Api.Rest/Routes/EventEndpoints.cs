using System.Net.WebSockets;
using System.Text.Json;
using Sharpvisor.Host.Supervision;

namespace Sharpvisor.Api.Rest.Routes;

/// <summary>/1.0/events: lifecycle and operation events as they happen, over a websocket (one JSON text frame each) or as server-sent events.</summary>
internal static class EventEndpoints
{
    public static async Task Get(HttpContext context, InstanceManager manager)
    {
        using var subscription = manager.Events.Subscribe();
        var ct = context.RequestAborted;
        if (context.WebSockets.IsWebSocketRequest)
        {
            using var socket = await context.WebSockets.AcceptWebSocketAsync().ConfigureAwait(false);
            // A reader notices the client's close; the events go out until then.
            using var closed = CancellationTokenSource.CreateLinkedTokenSource(ct);
            _ = Task.Run(async () =>
            {
                try { while ((await socket.ReceiveAsync(new byte[256], closed.Token).ConfigureAwait(false)).MessageType != WebSocketMessageType.Close) { } }
                catch (Exception e) when (e is OperationCanceledException or WebSocketException) { }
                closed.Cancel();
            });
            try
            {
                await foreach (var e in subscription.Events.ReadAllAsync(closed.Token).ConfigureAwait(false))
                    await socket.SendAsync(JsonSerializer.SerializeToUtf8Bytes(e, ApiJson.Options), WebSocketMessageType.Text, true, closed.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or WebSocketException) { }
            return;
        }
        context.Response.ContentType = "text/event-stream";
        context.Response.Headers.CacheControl = "no-cache";
        await context.Response.Body.FlushAsync(ct).ConfigureAwait(false);
        try
        {
            await foreach (var e in subscription.Events.ReadAllAsync(ct).ConfigureAwait(false))
            {
                await context.Response.WriteAsync($"event: {e.Type}\ndata: {JsonSerializer.Serialize(e, ApiJson.Options)}\n\n", ct).ConfigureAwait(false);
                await context.Response.Body.FlushAsync(ct).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) { }
    }
}
