using System.Buffers.Binary;
using System.Net;
using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using Sharpvisor.Vmm.Migration;
using Xunit.Abstractions;

namespace Sharpvisor.Vmm.Tests.Migration;

/// <summary>A destination given a damaged stream refuses it with a message that names the problem, and tells the sender.</summary>
public sealed class MigrationStreamTests(ITestOutputHelper output)
{
    private static byte[] Header(int version = MigrationFormat.CurrentVersion, uint flags = 0)
    {
        var header = new byte[MigrationFormat.HeaderSize];
        MigrationFormat.Magic.CopyTo(header);
        BinaryPrimitives.WriteInt32LittleEndian(header.AsSpan(8), version);
        BinaryPrimitives.WriteUInt32LittleEndian(header.AsSpan(12), flags);
        return header;
    }

    private static byte[] Section(MigrationSectionType type, byte[] payload, bool corruptDigest = false)
    {
        var section = new byte[MigrationFormat.SectionHeaderSize + payload.Length + MigrationFormat.ChecksumSize];
        section[0] = (byte)type;
        BinaryPrimitives.WriteInt32LittleEndian(section.AsSpan(4), payload.Length);
        payload.CopyTo(section, MigrationFormat.SectionHeaderSize);
        uint crc = BitwiseCrc32C(section.AsSpan(0, MigrationFormat.SectionHeaderSize + payload.Length));
        if (corruptDigest) crc ^= 0x40_0000;
        BinaryPrimitives.WriteUInt32LittleEndian(section.AsSpan(MigrationFormat.SectionHeaderSize + payload.Length), crc);
        return section;
    }

    /// <summary>CRC-32C bit by bit from its definition (reflected polynomial 0x82F63B78): the reference the VMM's is held to.</summary>
    private static uint BitwiseCrc32C(ReadOnlySpan<byte> data)
    {
        uint crc = 0xFFFF_FFFF;
        foreach (byte b in data)
        {
            crc ^= b;
            for (int bit = 0; bit < 8; bit++) crc = (crc & 1) != 0 ? (crc >> 1) ^ 0x82F6_3B78 : crc >> 1;
        }
        return ~crc;
    }

    [Fact]
    public void The_reference_checksum_is_CRC_32C() =>
        Assert.Equal(0xE306_9283u, BitwiseCrc32C("123456789"u8)); // the check value of CRC-32C (Castagnoli)

    /// <summary>Every payload length from 0 to 40 (the VMM's CRC works 8 bytes at a time, then the rest byte by byte).</summary>
    [Fact]
    public void Sections_of_every_tail_length_pass_the_destination_check()
    {
        for (int length = 0; length <= 40; length++)
        {
            var payload = new byte[length];
            for (int i = 0; i < length; i++) payload[i] = (byte)(i * 37 + length);
            using var incoming = IncomingMigration.Listen(new IPEndPoint(IPAddress.Loopback, 0));
            var receiving = Task.Run(() => incoming.Receive(TimeSpan.FromSeconds(10)));
            using var client = new Socket(SocketType.Stream, ProtocolType.Tcp);
            client.Connect(incoming.LocalEndpoint);
            // An Error section from the source is out of order, so the refusal names its type: proof the checksum passed.
            client.Send([.. Header(), .. Section(MigrationSectionType.Error, payload)]);
            client.Shutdown(SocketShutdown.Send);
            var e = Assert.Throws<MigrationException>(() => receiving.GetAwaiter().GetResult());
            Assert.Contains("starts with a Error section", e.Message);
        }
    }

    private static byte[] Hello() => Encoding.UTF8.GetBytes(
        """{"Config":{"KernelPath":"/nonexistent/kernel","MemoryBytes":67108864,"TestDevices":true},"SourceEngine":"Kvm","Regions":[[0,67108864]]}""");

    private static byte[] Pages(int round, params (ulong Frame, byte Fill)[] pages)
    {
        var payload = new List<byte>();
        var head = new byte[8];
        BinaryPrimitives.WriteInt32LittleEndian(head, round);
        BinaryPrimitives.WriteInt32LittleEndian(head.AsSpan(4), pages.Length);
        payload.AddRange(head);
        foreach (var (frame, fill) in pages)
        {
            var entry = new byte[8];
            BinaryPrimitives.WriteUInt64LittleEndian(entry, fill == 0 ? frame | MigrationFormat.ZeroPageFlag : frame);
            payload.AddRange(entry);
            if (fill != 0) payload.AddRange(Enumerable.Repeat(fill, MigrationFormat.PageSize));
        }
        return payload.ToArray();
    }

    public static TheoryData<string, string> DamagedStreams() => new()
    {
        { "bad magic", "is not sending a Sharpvisor migration stream (bad magic)" },
        { "short magic", "bad magic" },
        { "wrong version", $"version 99; this build reads version {MigrationFormat.CurrentVersion}" },
        { "unknown flags", "flags 0x4" },
        { "empty", "closed the connection before sending anything" },
        { "header only", "closed the connection before its configuration" },
        { "truncated section", "truncated: it ended inside a Config section" },
        { "corrupt checksum", "corrupt: a Config section's CRC-32C does not match" },
        { "huge length", "damaged: a Config section of 4294967295 bytes" },
        { "unknown section", "unknown section header" },
        { "pages first", "starts with a Pages section, not the configuration" },
        { "page outside RAM", "is not in guest RAM" },
        { "short pages", "shorter than its 2 entries" },
        { "rounds going back", "pages of round 1 after round 2" },
        { "end before state", "End section out of order" },
        { "stream ends in pages", "closed the connection before the VM's state" },
        { "garbage state", "holds a record this build cannot read" },
    };

    private static byte[] Stream(string name)
    {
        byte[] header = Header();
        byte[] config = Section(MigrationSectionType.Config, Hello());
        var truncated = Section(MigrationSectionType.Config, Hello());
        var huge = new byte[8];
        huge[0] = (byte)MigrationSectionType.Config;
        BinaryPrimitives.WriteUInt32LittleEndian(huge.AsSpan(4), uint.MaxValue);
        return name switch
        {
            "bad magic" => "GET / HTTP/1.1\r\nHost: x\r\n\r\n"u8.ToArray(),
            "short magic" => "SVX"u8.ToArray(),
            "wrong version" => Header(version: 99),
            "unknown flags" => Header(flags: 4),
            "empty" => [],
            "header only" => header,
            "truncated section" => [.. header, .. truncated.AsSpan(0, truncated.Length - 40)],
            "corrupt checksum" => [.. header, .. Section(MigrationSectionType.Config, Hello(), corruptDigest: true)],
            "huge length" => [.. header, .. huge],
            "unknown section" => [.. header, 0x7F, 0, 0, 0, 0, 0, 0, 0],
            "pages first" => [.. header, .. Section(MigrationSectionType.Pages, Pages(1, (1, 0xAA)))],
            "page outside RAM" => [.. header, .. config, .. Section(MigrationSectionType.Pages, Pages(1, (1UL << 40, 0xAA)))],
            "short pages" => [.. header, .. config, .. Section(MigrationSectionType.Pages, Pages(1, (1, 0xAA), (2, 0xBB))[..^100])],
            "rounds going back" => [.. header, .. config, .. Section(MigrationSectionType.Pages, Pages(2, (1, 0xAA))),
                .. Section(MigrationSectionType.Pages, Pages(1, (2, 0xAA)))],
            "end before state" => [.. header, .. config, .. Section(MigrationSectionType.End, new byte[12])],
            "stream ends in pages" => [.. header, .. config, .. Section(MigrationSectionType.Pages, Pages(1, (1, 0xAA), (2, 0)))],
            "garbage state" => [.. header, .. config, .. Section(MigrationSectionType.State, "{\"Machine\": 17}"u8.ToArray())],
            _ => throw new ArgumentException(name),
        };
    }

    [Theory]
    [MemberData(nameof(DamagedStreams))]
    public void A_damaged_stream_is_refused_with_a_message_naming_the_problem(string name, string expected)
    {
        using var incoming = IncomingMigration.Listen(new IPEndPoint(IPAddress.Loopback, 0));
        var receiving = Task.Run(() => incoming.Receive(TimeSpan.FromSeconds(10)));
        using var client = new Socket(SocketType.Stream, ProtocolType.Tcp);
        client.Connect(incoming.LocalEndpoint);
        client.Send(Stream(name));
        client.Shutdown(SocketShutdown.Send);
        var e = Assert.Throws<MigrationException>(() => receiving.GetAwaiter().GetResult());
        output.WriteLine($"{name}: {e.Message}");
        Assert.Contains(expected, e.Message);

        // The sender hears why, as an Error section, before the connection closes.
        var reply = new List<byte>();
        var buffer = new byte[4096];
        client.ReceiveTimeout = 5000;
        int n;
        while ((n = client.Receive(buffer)) > 0) reply.AddRange(buffer.AsSpan(0, n).ToArray());
        Assert.True(reply.Count > MigrationFormat.SectionHeaderSize, $"no reply to the sender of '{name}'");
        Assert.Equal((byte)MigrationSectionType.Error, reply[0]);
        int length = BinaryPrimitives.ReadInt32LittleEndian(reply.ToArray().AsSpan(4));
        Assert.Equal(e.Message, Encoding.UTF8.GetString(reply.ToArray(), MigrationFormat.SectionHeaderSize, length));
    }

    [Fact]
    public void A_stream_that_stalls_times_out_on_the_destination()
    {
        using var incoming = IncomingMigration.Listen(new IPEndPoint(IPAddress.Loopback, 0));
        var receiving = Task.Run(() => incoming.Receive(TimeSpan.FromSeconds(1)));
        using var client = new Socket(SocketType.Stream, ProtocolType.Tcp);
        client.Connect(incoming.LocalEndpoint);
        client.Send(Header());
        var e = Assert.Throws<MigrationException>(() => receiving.GetAwaiter().GetResult());
        Assert.Contains("stalled", e.Message);
    }
}
