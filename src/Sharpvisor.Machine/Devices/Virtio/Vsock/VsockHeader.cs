using System.Buffers.Binary;

namespace Sharpvisor.Machine.Devices.Virtio.Vsock;

/// <summary>
/// struct virtio_vsock_hdr (virtio 1.x section 5.10.6, 44 bytes, little-endian, packed): the addresses of both ends,
/// the payload length, the socket type, the operation, its flags and the sender's credit (buf_alloc, fwd_cnt).
/// </summary>
public struct VsockHeader
{
    public const int Length = 44;
    public const ushort TypeStream = 1;
    public const ushort OpInvalid = 0, OpRequest = 1, OpResponse = 2, OpReset = 3, OpShutdown = 4, OpReadWrite = 5,
        OpCreditUpdate = 6, OpCreditRequest = 7;
    /// <summary>SHUTDOWN flags: the sender will receive no more (RCV), will send no more (SEND).</summary>
    public const uint ShutdownReceive = 1, ShutdownSend = 2;

    public ulong SourceCid, DestinationCid;
    public uint SourcePort, DestinationPort, PayloadLength;
    public ushort Type, Op;
    public uint Flags, BufferAllocation, ForwardCount;

    public static VsockHeader Read(ReadOnlySpan<byte> bytes) => new()
    {
        SourceCid = BinaryPrimitives.ReadUInt64LittleEndian(bytes),
        DestinationCid = BinaryPrimitives.ReadUInt64LittleEndian(bytes[8..]),
        SourcePort = BinaryPrimitives.ReadUInt32LittleEndian(bytes[16..]),
        DestinationPort = BinaryPrimitives.ReadUInt32LittleEndian(bytes[20..]),
        PayloadLength = BinaryPrimitives.ReadUInt32LittleEndian(bytes[24..]),
        Type = BinaryPrimitives.ReadUInt16LittleEndian(bytes[28..]),
        Op = BinaryPrimitives.ReadUInt16LittleEndian(bytes[30..]),
        Flags = BinaryPrimitives.ReadUInt32LittleEndian(bytes[32..]),
        BufferAllocation = BinaryPrimitives.ReadUInt32LittleEndian(bytes[36..]),
        ForwardCount = BinaryPrimitives.ReadUInt32LittleEndian(bytes[40..]),
    };

    public readonly void Write(Span<byte> bytes)
    {
        BinaryPrimitives.WriteUInt64LittleEndian(bytes, SourceCid);
        BinaryPrimitives.WriteUInt64LittleEndian(bytes[8..], DestinationCid);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes[16..], SourcePort);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes[20..], DestinationPort);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes[24..], PayloadLength);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes[28..], Type);
        BinaryPrimitives.WriteUInt16LittleEndian(bytes[30..], Op);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes[32..], Flags);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes[36..], BufferAllocation);
        BinaryPrimitives.WriteUInt32LittleEndian(bytes[40..], ForwardCount);
    }
}
