using System.Net.Sockets;
using System.Text;
using Sharpvisor.Machine.Devices.Virtio;
using Sharpvisor.Machine.Devices.Virtio.Vsock;

namespace Sharpvisor.Machine.Tests.Devices.Virtio;

/// <summary>
/// virtio-vsock through the PCI transport, as a guest driver sees it, with real unix sockets on the host side:
/// both ways of connecting, data and credit, shutdown, resets for what the device cannot honour, malformed chains,
/// and the transport reset after a restore.
/// </summary>
public sealed class VirtioVsockTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("sharpvisor-vsock-").FullName;
    private readonly VsockTestDriver _guest;

    public VirtioVsockTests()
    {
        _guest = new VsockTestDriver(UdsPath);
    }

    private string UdsPath => Path.Combine(_folder, "v.sock");

    public void Dispose()
    {
        _guest.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    private Socket ListenForGuest(uint port)
    {
        var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        listener.Bind(new UnixDomainSocketEndPoint($"{UdsPath}_{port}"));
        listener.Listen(1);
        return listener;
    }

    private static byte[] ReadExactly(Socket socket, int count)
    {
        var buffer = new byte[count];
        socket.ReceiveTimeout = 5000;
        int at = 0;
        while (at < count)
        {
            int n = socket.Receive(buffer, at, count - at, SocketFlags.None);
            if (n == 0) throw new EndOfStreamException($"EOF after {at} of {count} bytes");
            at += n;
        }
        return buffer;
    }

    private static string ReadLine(Socket socket)
    {
        var line = new StringBuilder();
        socket.ReceiveTimeout = 5000;
        var one = new byte[1];
        while (socket.Receive(one) == 1 && one[0] != '\n') line.Append((char)one[0]);
        return line.ToString();
    }

    /// <summary>A guest connection to host port 5000, accepted: the host end.</summary>
    private Socket ConnectFromGuest(uint guestPort = 1234, uint bufferAllocation = 256 * 1024)
    {
        using var listener = ListenForGuest(5000);
        _guest.Send(VsockHeader.OpRequest, guestPort, 5000, bufferAllocation: bufferAllocation);
        var (response, _) = _guest.NextPacket();
        Assert.Equal(VsockHeader.OpResponse, response.Op);
        Assert.Equal((5000u, guestPort), (response.SourcePort, response.DestinationPort));
        return listener.Accept();
    }

    [Fact]
    public void The_configuration_holds_the_guest_CID_behind_device_ID_19_with_three_queues()
    {
        Assert.Equal(0x1053u, _guest.Driver.Device.ConfigSpace.Read(2, 2));
        Assert.Equal(3UL, _guest.Driver.ReadCommon(VirtioPciDevice.NumQueuesRegister, 2));
        ulong config = _guest.Driver.Bar0 + VirtioPciDevice.DeviceConfigOffset;
        Assert.Equal(VsockTestDriver.GuestCid, _guest.Driver.ReadBar(config, 8));
        Assert.Equal(VsockTestDriver.GuestCid, _guest.Driver.ReadBar(config, 4));
        Assert.True(File.Exists(UdsPath), "the host side's socket exists from the start");
    }

    [Fact]
    public void A_guest_connection_reaches_the_host_socket_named_for_its_port_and_carries_data_both_ways()
    {
        _guest.Start();
        using var host = ConnectFromGuest();
        _guest.Send(VsockHeader.OpReadWrite, 1234, 5000, "hello host"u8);
        Assert.Equal("hello host"u8.ToArray(), ReadExactly(host, 10));

        host.Send("hello guest"u8);
        var (data, payload) = _guest.NextPacket();
        Assert.Equal(VsockHeader.OpReadWrite, data.Op);
        Assert.Equal((VirtioVsock.HostCid, VsockTestDriver.GuestCid), (data.SourceCid, data.DestinationCid));
        Assert.Equal("hello guest"u8.ToArray(), payload);
        Assert.Equal((uint)VsockConnection.BufferSize, data.BufferAllocation);
        Assert.Equal(10u, data.ForwardCount);

        // The guest closes: SHUTDOWN with both flags is answered with RST, and the host sees EOF.
        _guest.Send(VsockHeader.OpShutdown, 1234, 5000, flags: VsockHeader.ShutdownReceive | VsockHeader.ShutdownSend);
        Assert.Equal(VsockHeader.OpReset, _guest.NextPacket().Header.Op);
        host.ReceiveTimeout = 5000;
        Assert.Equal(0, host.Receive(new byte[1]));
    }

    [Fact]
    public void A_host_program_connects_with_CONNECT_and_hears_OK_with_its_port_once_the_guest_accepts()
    {
        _guest.Start();
        using var host = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        host.Connect(new UnixDomainSocketEndPoint(UdsPath));
        host.Send("CONNECT 52\n"u8);
        var (request, _) = _guest.NextPacket();
        Assert.Equal(VsockHeader.OpRequest, request.Op);
        Assert.Equal(52u, request.DestinationPort);
        Assert.Equal(VirtioVsock.FirstHostPort, request.SourcePort);

        _guest.Send(VsockHeader.OpResponse, 52, request.SourcePort);
        Assert.Equal($"OK {VirtioVsock.FirstHostPort}", ReadLine(host));
        host.Send("ping"u8);
        Assert.Equal("ping"u8.ToArray(), _guest.NextPacket().Payload);
        _guest.Send(VsockHeader.OpReadWrite, 52, request.SourcePort, "pong"u8);
        Assert.Equal("pong"u8.ToArray(), ReadExactly(host, 4));
        Assert.Equal(1, _guest.Device.ConnectionsOpened);
    }

    [Fact]
    public void A_guest_refusing_a_host_connection_closes_the_host_socket_without_OK()
    {
        _guest.Start();
        using var host = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        host.Connect(new UnixDomainSocketEndPoint(UdsPath));
        host.Send("CONNECT 7\n"u8);
        var (request, _) = _guest.NextPacket();
        _guest.Send(VsockHeader.OpReset, 7, request.SourcePort);
        Assert.Equal("", ReadLine(host));
    }

    [Fact]
    public void A_bad_CONNECT_line_closes_the_host_socket_and_the_guest_hears_nothing()
    {
        _guest.Start();
        using var host = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
        host.Connect(new UnixDomainSocketEndPoint(UdsPath));
        host.Send("CONNECT seven\n"u8);
        host.ReceiveTimeout = 5000;
        Assert.Equal(0, host.Receive(new byte[1]));
        Assert.Equal(0, _guest.Receive.UsedIndex);
    }

    [Theory]
    [InlineData("CONNECT 52", true, 52u)]
    [InlineData("CONNECT 4294967295\r", true, 4294967295u)]
    [InlineData("CONNECT 4294967296", false, 0u)]
    [InlineData("CONNECT ", false, 0u)]
    [InlineData("connect 5", false, 0u)]
    [InlineData("CONNECT -5", false, 0u)]
    public void CONNECT_lines_name_a_32_bit_decimal_port(string line, bool valid, uint port)
    {
        Assert.Equal(valid, VirtioVsock.TryParseConnectLine(Encoding.ASCII.GetBytes(line), out uint parsed));
        Assert.Equal(port, parsed);
    }

    [Fact]
    public void A_request_to_a_port_nobody_listens_on_is_reset()
    {
        _guest.Start();
        _guest.Send(VsockHeader.OpRequest, 99, 6000);
        var (reset, _) = _guest.NextPacket();
        Assert.Equal(VsockHeader.OpReset, reset.Op);
        Assert.Equal((6000u, 99u), (reset.SourcePort, reset.DestinationPort));
    }

    [Theory]
    [InlineData(VsockHeader.OpReadWrite, VsockHeader.TypeStream)]   // data for no connection
    [InlineData((ushort)99, VsockHeader.TypeStream)]                 // an operation that does not exist
    [InlineData(VsockHeader.OpRequest, (ushort)2)]                   // SEQPACKET, not negotiated
    public void Packets_the_device_cannot_honour_are_answered_with_RST(ushort op, ushort type)
    {
        _guest.Start();
        _guest.Send(op, 77, 5000, "x"u8, type: type);
        Assert.Equal(VsockHeader.OpReset, _guest.NextPacket().Header.Op);
        Assert.False(_guest.Driver.Device.IsBroken);
    }

    [Fact]
    public void An_unknown_operation_on_a_live_connection_resets_it()
    {
        _guest.Start();
        using var host = ConnectFromGuest();
        _guest.Send(42, 1234, 5000);
        Assert.Equal(VsockHeader.OpReset, _guest.NextPacket().Header.Op);
        host.ReceiveTimeout = 5000;
        Assert.Equal(0, host.Receive(new byte[1]));
    }

    [Fact]
    public void Packets_with_a_forged_source_CID_are_ignored()
    {
        _guest.Start();
        using var listener = ListenForGuest(5000);
        _guest.Send(VsockHeader.OpRequest, 1, 5000, sourceCid: 9);
        Assert.False(listener.Poll(200_000, SelectMode.SelectRead), "the device connected for a forged packet");
        Assert.Equal(0, _guest.Receive.UsedIndex);
        Assert.Equal(1, _guest.Device.PacketsFromGuest);
    }

    [Fact]
    public void Host_data_waits_for_the_guests_credit_and_asks_for_more_once()
    {
        _guest.Start();
        using var host = ConnectFromGuest(bufferAllocation: 100);
        host.Send(new byte[1000]);
        var (first, payload) = _guest.NextPacket();
        Assert.Equal(VsockHeader.OpReadWrite, first.Op);
        int received = payload.Length;
        while (received < 100)
        {
            var (more, bytes) = _guest.NextPacket();
            Assert.Equal(VsockHeader.OpReadWrite, more.Op);
            received += bytes.Length;
        }
        Assert.Equal(100, received);
        Assert.Equal(VsockHeader.OpCreditRequest, _guest.NextPacket().Header.Op);

        // The guest consumed the 100 bytes and says so: the rest comes, still within its 100-byte window.
        _guest.Send(VsockHeader.OpCreditUpdate, 1234, 5000, bufferAllocation: 100, forwardCount: 100);
        var (next, nextPayload) = _guest.NextPacket();
        Assert.Equal(VsockHeader.OpReadWrite, next.Op);
        Assert.InRange(nextPayload.Length, 1, 100);
    }

    [Fact]
    public void The_host_closing_its_end_sends_the_guest_SHUTDOWN_SEND()
    {
        _guest.Start();
        var host = ConnectFromGuest();
        host.Shutdown(SocketShutdown.Send);
        var (shutdown, _) = _guest.NextPacket();
        Assert.Equal(VsockHeader.OpShutdown, shutdown.Op);
        Assert.Equal(VsockHeader.ShutdownSend, shutdown.Flags);
        host.Dispose();
    }

    [Fact]
    public void Guest_SHUTDOWN_SEND_shuts_the_host_sockets_write_side_after_the_data()
    {
        _guest.Start();
        using var host = ConnectFromGuest();
        _guest.Send(VsockHeader.OpReadWrite, 1234, 5000, "last"u8);
        _guest.Send(VsockHeader.OpShutdown, 1234, 5000, flags: VsockHeader.ShutdownSend);
        Assert.Equal("last"u8.ToArray(), ReadExactly(host, 4));
        Assert.Equal(0, host.Receive(new byte[1]));
        host.Send("still open"u8);
        Assert.Equal("still open"u8.ToArray(), _guest.NextPacket().Payload);
    }

    [Fact]
    public void A_transmit_chain_shorter_than_a_header_breaks_the_device_and_a_reset_brings_it_back()
    {
        _guest.Start();
        ulong at = _guest.Allocate(16);
        _guest.Transmit.Submit((at, 16, false));
        _guest.Driver.Notify(VirtioVsock.TransmitQueue);
        AssertBroken("no 44-byte header");
        _guest.Start();
        _guest.Send(VsockHeader.OpRequest, 99, 6000);
        Assert.Equal(VsockHeader.OpReset, _guest.NextPacket().Header.Op);
    }

    [Fact]
    public void A_payload_length_beyond_the_chain_breaks_the_device()
    {
        _guest.Start();
        var header = new VsockHeader
        {
            SourceCid = VsockTestDriver.GuestCid, DestinationCid = VirtioVsock.HostCid, PayloadLength = 4096,
            Type = VsockHeader.TypeStream, Op = VsockHeader.OpReadWrite,
        };
        ulong at = _guest.Allocate(VsockHeader.Length + 10);
        header.Write(_guest.Driver.Memory.GetSpan(at, VsockHeader.Length));
        _guest.Transmit.Submit((at, VsockHeader.Length + 10, false));
        _guest.Driver.Notify(VirtioVsock.TransmitQueue);
        AssertBroken("4096-byte payload");
    }

    [Fact]
    public void A_receive_chain_too_small_for_a_header_breaks_the_device()
    {
        _guest.Start(receiveBuffers: 0);
        _guest.Receive.Submit((_guest.Allocate(8), 8, true));
        _guest.Driver.Notify(VirtioVsock.ReceiveQueue);
        _guest.Send(VsockHeader.OpRequest, 99, 6000); // its RST needs a receive buffer
        AssertBroken("less than a 44-byte header");
    }

    [Fact]
    public void Header_only_receive_chains_carry_control_packets_but_data_waiting_for_one_breaks_the_device()
    {
        _guest.Start(receiveBuffers: 0);
        void PostHeaderOnly()
        {
            _guest.Receive.Submit((_guest.Allocate(VsockHeader.Length), VsockHeader.Length, true));
            _guest.Driver.Notify(VirtioVsock.ReceiveQueue);
        }
        using var listener = ListenForGuest(5000);
        PostHeaderOnly();
        _guest.Send(VsockHeader.OpRequest, 1234, 5000);
        Assert.True(_guest.Receive.WaitUsed(1), "no RESPONSE");
        using var host = listener.Accept();
        host.Send("data"u8);
        PostHeaderOnly();
        AssertBroken("room for a header but no data");
    }

    [Fact]
    public void Restoring_the_device_drops_its_connections_and_sends_the_transport_reset_event()
    {
        _guest.Start();
        using var host = ConnectFromGuest();
        var saved = _guest.Device.SaveState();
        Assert.Equal(VsockTestDriver.GuestCid, saved.GuestCid);
        _guest.Device.PauseProcessing();
        _guest.Device.RestoreState(saved with { GuestCid = 7 });
        _guest.Device.ResumeProcessing();
        Assert.True(_guest.Events.WaitUsed(1), "no transport reset event");
        var (id, length) = _guest.Events.UsedElement(0);
        Assert.Equal(4u, length);
        Assert.Equal(VirtioVsock.EventTransportReset, _guest.Driver.Memory.ReadUInt32(_guest.Events.BufferOf((ushort)id)));
        Assert.Equal(7UL, _guest.Driver.ReadBar(_guest.Driver.Bar0 + VirtioPciDevice.DeviceConfigOffset, 8));
        host.ReceiveTimeout = 5000;
        Assert.Equal(0, host.Receive(new byte[1]));
        Assert.Throws<ArgumentException>(() => _guest.Device.RestoreState(saved with { GuestCid = 2 }));
    }

    [Fact]
    public void A_second_device_may_not_take_a_live_socket_but_replaces_a_stale_one()
    {
        var error = Assert.Throws<IOException>(() => new VirtioVsock(4, UdsPath));
        Assert.Contains("already exists", error.Message);
        string stale = Path.Combine(_folder, "stale.sock");
        BindAndClose(stale);
        Assert.True(File.Exists(stale));
        using var device = new VirtioVsock(4, stale);
        Assert.True(File.Exists(stale));
    }

    // A socket file nobody listens on, as a killed VMM leaves it (.NET's Socket unlinks the file it bound when disposed).
    private static unsafe void BindAndClose(string path)
    {
        int fd = socket(1, 1, 0); // AF_UNIX, SOCK_STREAM
        Assert.True(fd >= 0);
        byte* address = stackalloc byte[110];
        new Span<byte>(address, 110).Clear();
        *(ushort*)address = 1;
        Encoding.UTF8.GetBytes(path).CopyTo(new Span<byte>(address + 2, 107));
        Assert.Equal(0, bind(fd, address, 110));
        close(fd);
    }

    [System.Runtime.InteropServices.DllImport("libc")] private static extern int socket(int domain, int type, int protocol);
    [System.Runtime.InteropServices.DllImport("libc")] private static extern unsafe int bind(int fd, byte* address, int length);
    [System.Runtime.InteropServices.DllImport("libc")] private static extern int close(int fd);

    private void AssertBroken(string reason)
    {
        var deadline = Environment.TickCount64 + 5000;
        while (!_guest.Driver.Device.IsBroken && Environment.TickCount64 < deadline) Thread.Sleep(1);
        Assert.True(_guest.Driver.Device.IsBroken, "the device did not ask for a reset");
        Assert.True((_guest.Driver.Status & VirtioStatus.DeviceNeedsReset) != 0);
        Assert.Contains(_guest.Driver.Log, line => line.Contains(reason));
    }
}
