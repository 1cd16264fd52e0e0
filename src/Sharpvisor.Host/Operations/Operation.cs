namespace Sharpvisor.Host.Operations;

public enum OperationStatus { Running, Success, Failure }

/// <summary>
/// A long task the API answered with 202 (start, stop, snapshot, migrate): its id, where it is, and how it ended.
/// <see cref="Metadata"/> carries what the task reports as it goes (e.g. a migration's progress).
/// </summary>
public sealed class Operation
{
    private readonly TaskCompletionSource _done = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private volatile OperationStatus _status = OperationStatus.Running;

    public Operation(string description, string? instance)
    {
        Description = description;
        Instance = instance;
    }

    public string Id { get; } = Guid.NewGuid().ToString();
    public string Description { get; }
    public string? Instance { get; }
    public DateTimeOffset CreatedAt { get; } = DateTimeOffset.UtcNow;
    public DateTimeOffset UpdatedAt { get; private set; } = DateTimeOffset.UtcNow;
    public OperationStatus Status => _status;
    public string? Error { get; private set; }
    /// <summary>The HTTP status a failure maps to (409 for a conflict found late, 500 otherwise).</summary>
    public int ErrorCode { get; private set; }
    public IReadOnlyDictionary<string, object?> Metadata { get; private set; } = new Dictionary<string, object?>();
    public Task Done => _done.Task;

    public void Report(IReadOnlyDictionary<string, object?> metadata)
    {
        Metadata = metadata;
        UpdatedAt = DateTimeOffset.UtcNow;
    }

    internal void Succeed()
    {
        UpdatedAt = DateTimeOffset.UtcNow;
        _status = OperationStatus.Success;
        _done.TrySetResult();
    }

    internal void Fail(string error, int code)
    {
        Error = error;
        ErrorCode = code;
        UpdatedAt = DateTimeOffset.UtcNow;
        _status = OperationStatus.Failure;
        _done.TrySetResult();
    }
}
