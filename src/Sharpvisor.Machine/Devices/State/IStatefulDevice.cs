namespace Sharpvisor.Machine.Devices.State;

/// <summary>
/// A device whose state a snapshot or a migration carries. The machine finds it on its buses (or as a part of one
/// found there) and knows it by <see cref="StateKey"/>, so the device names itself rather than being recognised by
/// where it sits.
/// </summary>
public interface IStatefulDevice
{
    /// <summary>Unique among its siblings and the same on every build of the same configuration (<c>com1</c>, <c>i8042</c>).</summary>
    string StateKey { get; }

    /// <summary>
    /// Devices reached only through this one (a PCI root's functions, a virtio transport's model with state of its own),
    /// keyed under it. They are saved after it and restored after it, so a part may rely on its parent being restored.
    /// </summary>
    IEnumerable<object> StateParts => [];
}

/// <summary>A device with the record <typeparamref name="TState"/>: one method to take it, one to load it.</summary>
public interface IStatefulDevice<TState> : IStatefulDevice where TState : class, IDeviceState
{
    /// <summary>The state now; callable from any thread while the vCPUs run (a device guards its own state).</summary>
    TState SaveState();

    /// <summary>Loads <paramref name="state"/>; throws <see cref="ArgumentException"/> for values the device cannot hold.</summary>
    void RestoreState(TState state);
}
