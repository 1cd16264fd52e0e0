namespace Sharpvisor.Machine.Cpu;

/// <summary>Exceptions, interrupts and NMIs that are injected or pending but not yet delivered, and the interrupt shadow.</summary>
public sealed record PendingEvents
{
    public bool ExceptionInjected { get; init; }
    public byte ExceptionVector { get; init; }
    public bool ExceptionHasErrorCode { get; init; }
    public uint ExceptionErrorCode { get; init; }
    public bool InterruptInjected { get; init; }
    public byte InterruptVector { get; init; }
    public bool InterruptSoft { get; init; }
    /// <summary>STI or MOV SS shadow: interrupts blocked for one more instruction (bit 0 STI, bit 1 MOV SS).</summary>
    public byte InterruptShadow { get; init; }
    public bool NmiInjected { get; init; }
    public bool NmiPending { get; init; }
    public bool NmiMasked { get; init; }
    public uint SipiVector { get; init; }
    public bool SmiPending { get; init; }
    public bool InSmm { get; init; }
}
