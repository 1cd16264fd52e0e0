namespace Sharpvisor.TestGuests.Guests;

/// <summary>Which half of the echo device an <see cref="EchoOperation"/> addresses.</summary>
public enum EchoSpace
{
    /// <summary>Port I/O; offsets count from port 0xE0.</summary>
    Port,
    /// <summary>MMIO; offsets count from 0xFF000000.</summary>
    Memory,
}
