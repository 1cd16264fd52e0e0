namespace Sharpvisor.TestGuests.Guests;

/// <summary>
/// One access of the io-echo guest. For a write, <see cref="Value"/> is what is written; for a read, it is what the
/// device must return (zero-extended to 64 bits).
/// </summary>
public readonly record struct EchoOperation(EchoSpace Space, bool IsWrite, ulong Offset, int Width, ulong Value)
{
    public ulong Address => Space == EchoSpace.Port
        ? TestGuestProtocol.EchoPort + Offset
        : TestGuestProtocol.EchoMemoryAddress + Offset;

    public override string ToString() =>
        $"{(Space == EchoSpace.Port ? "port" : "mmio")} {(IsWrite ? "write" : "read")} 0x{Address:x} width {Width}"
        + (IsWrite ? $" value 0x{Value:x}" : "");
}
