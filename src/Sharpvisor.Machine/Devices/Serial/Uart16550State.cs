using Sharpvisor.Machine.Devices.State;

namespace Sharpvisor.Machine.Devices.Serial;

/// <summary>
/// Everything a <see cref="Uart16550"/> holds, including received bytes the guest has not read yet and host input that
/// has not reached the receive FIFO, so a snapshot loses no console input.
/// </summary>
public sealed record Uart16550State : IDeviceState
{
    public static int CurrentVersion => 1;

    public byte InterruptEnable { get; init; }
    public byte LineControl { get; init; }
    public byte ModemControl { get; init; }
    public byte Scratch { get; init; }
    public byte DivisorLatchLow { get; init; }
    public byte DivisorLatchHigh { get; init; }
    /// <summary>The FIFO control bits in effect: enable (bit 0), DMA mode (bit 3), receive trigger level (bits 7:6).</summary>
    public byte FifoControl { get; init; }
    public bool Overrun { get; init; }
    public bool TransmitterEmptyInterruptPending { get; init; }
    /// <summary>MSR bits 3:0 (the change indicators) not yet read by the guest.</summary>
    public byte ModemStatusDeltas { get; init; }
    /// <summary>What RBR reads when the receive FIFO is empty: the byte read last.</summary>
    public byte LastReceived { get; init; }
    public byte[] ReceiveFifo { get; init; } = [];
    public byte[] PendingInput { get; init; } = [];
}
