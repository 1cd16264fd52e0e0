using System.Buffers.Binary;

namespace Sharpvisor.Vmm.Migration;

/// <summary>
/// One end of a migration stream (<see cref="MigrationFormat"/>): writes and reads the header and checksummed
/// sections, refusing anything damaged with a <see cref="MigrationException"/> that names the problem. Buffers are
/// reused: a received payload is valid until the next <see cref="Receive"/>.
/// </summary>
internal sealed class MigrationChannel(Stream stream, string peer) : IDisposable
{
    private readonly byte[] _sendHeader = new byte[MigrationFormat.SectionHeaderSize];
    private readonly byte[] _sendDigest = new byte[MigrationFormat.ChecksumSize];
    private readonly byte[] _receiveHeader = new byte[MigrationFormat.SectionHeaderSize];
    private readonly byte[] _receiveDigest = new byte[MigrationFormat.ChecksumSize];
    private byte[] _payload = new byte[64 * 1024];

    public string Peer { get; } = peer;
    public long BytesSent { get; private set; }
    public long BytesReceived { get; private set; }

    public void SendHeader(int version = MigrationFormat.CurrentVersion)
    {
        Span<byte> header = stackalloc byte[MigrationFormat.HeaderSize];
        MigrationFormat.Magic.CopyTo(header);
        BinaryPrimitives.WriteInt32LittleEndian(header[8..], version);
        BinaryPrimitives.WriteUInt32LittleEndian(header[12..], 0);
        stream.Write(header);
        BytesSent += header.Length;
    }

    /// <summary>Reads and checks the stream's header: magic, version and flags.</summary>
    public void ReceiveHeader()
    {
        Span<byte> header = stackalloc byte[MigrationFormat.HeaderSize];
        int got = ReadUpTo(header);
        if (got >= MigrationFormat.Magic.Length && !header[..MigrationFormat.Magic.Length].SequenceEqual(MigrationFormat.Magic)
            || got > 0 && got < MigrationFormat.Magic.Length && !header[..got].SequenceEqual(MigrationFormat.Magic[..got]))
            throw new MigrationException($"{Peer} is not sending a Sharpvisor migration stream (bad magic)");
        if (got < header.Length)
            throw new MigrationException(got == 0
                ? $"{Peer} closed the connection before sending anything"
                : $"the migration stream from {Peer} is truncated: {got} bytes, shorter than its {MigrationFormat.HeaderSize}-byte header");
        int version = BinaryPrimitives.ReadInt32LittleEndian(header[8..]);
        if (version != MigrationFormat.CurrentVersion)
            throw new MigrationException($"{Peer} sends migration stream version {version}; this build reads version {MigrationFormat.CurrentVersion}");
        uint flags = BinaryPrimitives.ReadUInt32LittleEndian(header[12..]);
        if (flags != 0) throw new MigrationException($"{Peer} sends migration stream flags 0x{flags:x}, which this build does not know");
        BytesReceived += header.Length;
    }

    public void Send(MigrationSectionType type, ReadOnlySpan<byte> payload)
    {
        _sendHeader[0] = (byte)type;
        _sendHeader[1] = _sendHeader[2] = _sendHeader[3] = 0;
        BinaryPrimitives.WriteInt32LittleEndian(_sendHeader.AsSpan(4), payload.Length);
        BinaryPrimitives.WriteUInt32LittleEndian(_sendDigest, Checksum(_sendHeader, payload));
        stream.Write(_sendHeader);
        stream.Write(payload);
        stream.Write(_sendDigest);
        BytesSent += MigrationFormat.SectionHeaderSize + payload.Length + MigrationFormat.ChecksumSize;
    }

    public void Flush() => stream.Flush();

    /// <summary>
    /// Reads the next section and checks its checksum; <paramref name="expecting"/> names what should come, for the
    /// message when the stream ends instead. The payload is valid until the next call.
    /// </summary>
    public (MigrationSectionType Type, ReadOnlyMemory<byte> Payload) Receive(string expecting)
    {
        int got = ReadUpTo(_receiveHeader);
        if (got == 0) throw new MigrationException($"{Peer} closed the connection before {expecting}");
        if (got < _receiveHeader.Length) throw new MigrationException($"the migration stream from {Peer} broke off in a section header (before {expecting})");
        var type = (MigrationSectionType)_receiveHeader[0];
        if (!Enum.IsDefined(type) || _receiveHeader[1] != 0 || _receiveHeader[2] != 0 || _receiveHeader[3] != 0)
            throw new MigrationException($"the migration stream from {Peer} is damaged: unknown section header {Convert.ToHexString(_receiveHeader.AsSpan(0, 4))} (expected {expecting})");
        int length = BinaryPrimitives.ReadInt32LittleEndian(_receiveHeader.AsSpan(4));
        if (length < 0 || length > MigrationFormat.MaxPayload)
            throw new MigrationException($"the migration stream from {Peer} is damaged: a {type} section of {(uint)length} bytes (at most {MigrationFormat.MaxPayload})");
        if (_payload.Length < length) _payload = new byte[Math.Max(length, _payload.Length * 2)];
        var payload = _payload.AsSpan(0, length);
        if (ReadUpTo(payload) < length || ReadUpTo(_receiveDigest) < _receiveDigest.Length)
            throw new MigrationException($"the migration stream from {Peer} is truncated: it ended inside a {type} section");
        if (Checksum(_receiveHeader, payload) != BinaryPrimitives.ReadUInt32LittleEndian(_receiveDigest))
            throw new MigrationException($"the migration stream from {Peer} is corrupt: a {type} section's CRC-32C does not match its contents");
        BytesReceived += MigrationFormat.SectionHeaderSize + length + MigrationFormat.ChecksumSize;
        return (type, _payload.AsMemory(0, length));
    }

    private static uint Checksum(ReadOnlySpan<byte> header, ReadOnlySpan<byte> payload) =>
        Crc32C.Finish(Crc32C.Append(Crc32C.Append(Crc32C.Initial, header), payload));

    // Reads until the span is full or the stream ends; returns how much arrived.
    private int ReadUpTo(Span<byte> into)
    {
        int total = 0;
        while (total < into.Length)
        {
            int n = stream.Read(into[total..]);
            if (n == 0) break;
            total += n;
        }
        return total;
    }

    public void Dispose() => stream.Dispose();
}
