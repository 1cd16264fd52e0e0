namespace Sharpvisor.Engines.Emulator.Execution;

/// <summary>
/// Where a CPU core takes its external interrupts from: its local APIC. The APIC may be fed from other threads
/// (devices, IPIs); it then sets <see cref="CpuCore.InterruptCheckRequested"/> so the core looks at a block boundary.
/// </summary>
public interface IInterruptSource
{
    /// <summary>The highest-priority interrupt that may be delivered now (above the task priority), without taking it.</summary>
    bool HasDeliverable { get; }

    /// <summary>Takes the highest-priority deliverable interrupt: the core is about to deliver <paramref name="vector"/> through the IDT.</summary>
    bool TryAcknowledge(out byte vector);

    /// <summary>The APIC's task-priority register (TPR, 8 bits); MOV to and from CR8 reach it as TPR[7:4].</summary>
    byte TaskPriority { get; set; }
}
