namespace Sharpvisor.Machine.Devices.Virtio;

/// <summary>
/// A device that serves its queues on threads of its own (I/O, a backend's reader). While the VM is paused they must
/// not touch the queues or guest memory, so a snapshot or the last round of a migration sees them still.
/// </summary>
public interface IVirtioBackgroundWork
{
    /// <summary>Waits for the batch in flight to complete (used ring and interrupt included), then holds new work.</summary>
    void PauseProcessing();

    /// <summary>Serves what arrived meanwhile and goes on.</summary>
    void ResumeProcessing();
}
