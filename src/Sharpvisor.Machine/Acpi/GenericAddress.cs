using System.Buffers.Binary;

namespace Sharpvisor.Machine.Acpi;

/// <summary>An ACPI Generic Address Structure (ACPI 6.x 5.2.3.2), 12 bytes.</summary>
public readonly record struct GenericAddress(byte AddressSpace, byte BitWidth, byte BitOffset, byte AccessSize, ulong Address)
{
    public const int Length = 12;
    public const byte SystemMemorySpace = 0, SystemIoSpace = 1;
    public const byte AccessUndefined = 0, AccessByte = 1, AccessWord = 2, AccessDword = 3, AccessQword = 4;

    /// <summary>A byte-wide register at an I/O port.</summary>
    public static GenericAddress IoPort8(ushort port) => new(SystemIoSpace, 8, 0, AccessByte, port);

    public void WriteTo(Span<byte> destination)
    {
        destination[0] = AddressSpace;
        destination[1] = BitWidth;
        destination[2] = BitOffset;
        destination[3] = AccessSize;
        BinaryPrimitives.WriteUInt64LittleEndian(destination[4..], Address);
    }
}
