using System.Collections.Concurrent;
using Sharpvisor.Host.Events;

namespace Sharpvisor.Host.Operations;

/// <summary>
/// The daemon's long tasks. Each runs in the background from the moment it is registered; finished ones are kept for
/// ten minutes, so a client that asks late still learns how it ended.
/// </summary>
public sealed class OperationRegistry(HostEvents events)
{
    private static readonly TimeSpan KeepFinished = TimeSpan.FromMinutes(10);
    private readonly ConcurrentDictionary<string, Operation> _operations = new();

    public Operation Start(string description, string? instance, Func<Operation, Task> work)
    {
        Forget();
        var operation = new Operation(description, instance);
        _operations[operation.Id] = operation;
        events.Publish("operation", "created", instance, "running", description);
        _ = Task.Run(async () =>
        {
            try
            {
                await work(operation).ConfigureAwait(false);
                operation.Succeed();
            }
            catch (HostException e)
            {
                operation.Fail(e.Message, e.StatusCode);
            }
            catch (Exception e)
            {
                operation.Fail($"{e.GetType().Name}: {e.Message}", 500);
            }
            events.Publish("operation", operation.Status == OperationStatus.Success ? "succeeded" : "failed", instance,
                operation.Status.ToString().ToLowerInvariant(), operation.Error ?? description);
        });
        return operation;
    }

    public Operation? Find(string id) => _operations.TryGetValue(id, out var operation) ? operation : null;

    public IReadOnlyList<Operation> List() => _operations.Values.OrderBy(o => o.CreatedAt).ToList();

    private void Forget()
    {
        var cutoff = DateTimeOffset.UtcNow - KeepFinished;
        foreach (var (id, operation) in _operations)
            if (operation.Status != OperationStatus.Running && operation.UpdatedAt < cutoff) _operations.TryRemove(id, out _);
    }
}
