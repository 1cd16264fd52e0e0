using System.Buffers.Binary;

namespace Sharpvisor.Machine.Acpi;

/// <summary>
/// Builds the byte stream of a _CRS ResourceTemplate (ACPI 6.x section 6.4): small and large resource descriptors
/// followed by the End Tag. Address space descriptors are written as a producer (bit 0 of the general flags clear)
/// with fixed minimum and maximum and positive decode, which is what a host bridge window is.
/// </summary>
public sealed class ResourceTemplate
{
    private const byte AddressSpaceMemory = 0, AddressSpaceIo = 1, AddressSpaceBusNumber = 2;
    private const byte GeneralFlagsProducerFixed = 0b1100;   // _MAF | _MIF, positive decode, producer
    private const byte IoRangeEntire = 3;                    // _RNG: both ISA and non-ISA ranges

    private readonly List<byte> _bytes = [];

    /// <summary>IO(Decode16 or Decode10, min, max, alignment, length): small item type 0x08.</summary>
    public ResourceTemplate Io(ushort minimum, ushort maximum, byte alignment, byte length, bool decode16 = true)
    {
        Span<byte> d = stackalloc byte[8];
        d[0] = 0x47;                                          // type 0x08, length 7
        d[1] = (byte)(decode16 ? 1 : 0);
        BinaryPrimitives.WriteUInt16LittleEndian(d[2..], minimum);
        BinaryPrimitives.WriteUInt16LittleEndian(d[4..], maximum);
        d[6] = alignment;
        d[7] = length;
        _bytes.AddRange(d);
        return this;
    }

    /// <summary>IRQNoFlags() { irqs }: small item type 0x04 without the flags byte (edge-triggered, active high).</summary>
    public ResourceTemplate IrqNoFlags(params int[] irqs)
    {
        ushort mask = 0;
        foreach (int irq in irqs)
        {
            if (irq is < 0 or > 15) throw new ArgumentOutOfRangeException(nameof(irqs), $"ISA IRQ {irq} is not 0-15");
            mask |= (ushort)(1 << irq);
        }
        _bytes.Add(0x22);                                     // type 0x04, length 2
        _bytes.Add((byte)mask);
        _bytes.Add((byte)(mask >> 8));
        return this;
    }

    /// <summary>
    /// Interrupt(ResourceConsumer, Level or Edge, ActiveHigh or ActiveLow, Exclusive) { gsis }: the extended interrupt
    /// descriptor (large item 0x09), which names global system interrupts rather than ISA IRQs.
    /// </summary>
    public ResourceTemplate Interrupt(bool edgeTriggered, bool activeLow, params uint[] gsis)
    {
        if (gsis.Length is 0 or > 255) throw new ArgumentException("an interrupt descriptor lists 1 to 255 interrupts", nameof(gsis));
        _bytes.Add(0x89);
        int length = 2 + 4 * gsis.Length;
        _bytes.Add((byte)length);
        _bytes.Add((byte)(length >> 8));
        // Bit 0 consumer, bit 1 edge, bit 2 active low; bit 3 (shared) and bit 4 (wake capable) clear.
        _bytes.Add((byte)(1 | (edgeTriggered ? 2 : 0) | (activeLow ? 4 : 0)));
        _bytes.Add((byte)gsis.Length);
        Span<byte> gsi = stackalloc byte[4];
        foreach (uint number in gsis)
        {
            BinaryPrimitives.WriteUInt32LittleEndian(gsi, number);
            _bytes.AddRange(gsi);
        }
        return this;
    }

    /// <summary>WordBusNumber(ResourceProducer, MinFixed, MaxFixed, PosDecode, 0, min, max, 0, count).</summary>
    public ResourceTemplate WordBusNumber(ushort minimum, ushort maximum) =>
        WordAddress(AddressSpaceBusNumber, 0, minimum, maximum);

    /// <summary>WordIO(ResourceProducer, MinFixed, MaxFixed, PosDecode, EntireRange, 0, min, max, 0, length).</summary>
    public ResourceTemplate WordIo(ushort minimum, ushort maximum) =>
        WordAddress(AddressSpaceIo, IoRangeEntire, minimum, maximum);

    /// <summary>DWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed, caching, ReadWrite, 0, min, max, 0, length).</summary>
    public ResourceTemplate DWordMemory(uint minimum, uint maximum, MemoryCaching caching = MemoryCaching.NonCacheable)
    {
        if (maximum < minimum) throw new ArgumentException("the window ends before it starts");
        if (maximum - (ulong)minimum + 1 > uint.MaxValue)
            throw new ArgumentException($"a DWord descriptor cannot express the length of 0x{minimum:x}-0x{maximum:x}");
        Span<byte> d = stackalloc byte[26];
        d[0] = 0x87;
        BinaryPrimitives.WriteUInt16LittleEndian(d[1..], 23);
        d[3] = AddressSpaceMemory;
        d[4] = GeneralFlagsProducerFixed;
        d[5] = MemoryTypeFlags(caching);
        BinaryPrimitives.WriteUInt32LittleEndian(d[6..], 0);  // granularity
        BinaryPrimitives.WriteUInt32LittleEndian(d[10..], minimum);
        BinaryPrimitives.WriteUInt32LittleEndian(d[14..], maximum);
        BinaryPrimitives.WriteUInt32LittleEndian(d[18..], 0); // translation offset
        BinaryPrimitives.WriteUInt32LittleEndian(d[22..], maximum - minimum + 1);
        _bytes.AddRange(d);
        return this;
    }

    /// <summary>QWordMemory(ResourceProducer, PosDecode, MinFixed, MaxFixed, caching, ReadWrite, 0, min, max, 0, length).</summary>
    public ResourceTemplate QWordMemory(ulong minimum, ulong maximum, MemoryCaching caching = MemoryCaching.Cacheable)
    {
        if (maximum < minimum) throw new ArgumentException("the window ends before it starts");
        if (maximum - minimum == ulong.MaxValue)
            throw new ArgumentException("a QWord descriptor cannot express a window of the whole 64-bit space");
        Span<byte> d = stackalloc byte[46];
        d[0] = 0x8A;
        BinaryPrimitives.WriteUInt16LittleEndian(d[1..], 43);
        d[3] = AddressSpaceMemory;
        d[4] = GeneralFlagsProducerFixed;
        d[5] = MemoryTypeFlags(caching);
        BinaryPrimitives.WriteUInt64LittleEndian(d[6..], 0);
        BinaryPrimitives.WriteUInt64LittleEndian(d[14..], minimum);
        BinaryPrimitives.WriteUInt64LittleEndian(d[22..], maximum);
        BinaryPrimitives.WriteUInt64LittleEndian(d[30..], 0);
        BinaryPrimitives.WriteUInt64LittleEndian(d[38..], maximum - minimum + 1);
        _bytes.AddRange(d);
        return this;
    }

    /// <summary>The descriptors followed by the End Tag (checksum 0: "treat as valid").</summary>
    public byte[] ToArray() => [.. _bytes, 0x79, 0x00];

    /// <summary>The template as an AML Buffer object, ready for Name(_CRS, ...).</summary>
    public byte[] ToAmlBuffer() => AmlEncoder.Buffer(ToArray());

    private ResourceTemplate WordAddress(byte resourceType, byte typeFlags, ushort minimum, ushort maximum)
    {
        if (maximum < minimum) throw new ArgumentException("the range ends before it starts");
        if (maximum - minimum + 1 > ushort.MaxValue)
            throw new ArgumentException($"a Word descriptor cannot express the length of 0x{minimum:x}-0x{maximum:x}");
        Span<byte> d = stackalloc byte[16];
        d[0] = 0x88;
        BinaryPrimitives.WriteUInt16LittleEndian(d[1..], 13);
        d[3] = resourceType;
        d[4] = GeneralFlagsProducerFixed;
        d[5] = typeFlags;
        BinaryPrimitives.WriteUInt16LittleEndian(d[6..], 0);
        BinaryPrimitives.WriteUInt16LittleEndian(d[8..], minimum);
        BinaryPrimitives.WriteUInt16LittleEndian(d[10..], maximum);
        BinaryPrimitives.WriteUInt16LittleEndian(d[12..], 0);
        BinaryPrimitives.WriteUInt16LittleEndian(d[14..], (ushort)(maximum - minimum + 1));
        _bytes.AddRange(d);
        return this;
    }

    // Bit 0 _RW (read/write), bits 2-1 _MEM, bits 4-3 _MTP = AddressRangeMemory (0).
    private static byte MemoryTypeFlags(MemoryCaching caching) => (byte)(1 | ((int)caching << 1));
}
