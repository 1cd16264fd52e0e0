using System.Net.Sockets;
using System.Security.Cryptography;
using System.Text;
using static Sharpvisor.Vmm.Tests.Lifecycle.ScriptedConsole;
using Sharpvisor.Engines.Emulator;
using Sharpvisor.Machine.Cpu;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Images;
using Sharpvisor.Vmm.Lifecycle;
using Sharpvisor.Vmm.Tests.Lifecycle;
using Xunit.Abstractions;

namespace Sharpvisor.Vmm.Tests.Virtio;

/// <summary>
/// Debian's kernel on the emulator with virtio-vsock and Firecracker's host side, one boot: the guest's vsock driver
/// binds, 1 MiB goes from the guest to a host program listening on uds_path_5000 and 1 MiB from a host program (CONNECT
/// 5001 on uds_path) to the guest, each checked by SHA-256 on both ends. The guest side is the image's vsockcat
/// (Debian's busybox nc has no vsock).
/// </summary>
public sealed class VsockLinuxTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(10), CommandTimeout = TimeSpan.FromMinutes(3);
    private const int Size = 1 << 20;
    private readonly string _directory = Directory.CreateTempSubdirectory("sharpvisor-vsock-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public async Task A_mebibyte_crosses_vsock_each_way_intact()
    {
        var image = await DefaultGuestImage.EnsureAsync(new Progress<string>(output.WriteLine), CancellationToken.None);
        string uds = Path.Combine(_directory, "v.sock");
        var config = new VmConfig
        {
            KernelPath = image.KernelPath, InitrdPath = image.InitrdPath, CommandLine = DefaultGuestImage.SuggestedCommandLine,
            MemoryBytes = 256UL << 20, Topology = CpuTopology.Flat(1), NoReboot = true, Vsock = new VsockSpec(3, uds),
        };
        var console = new ScriptedConsole();
        using var vm = new Vm(config, new EmulatorEngine(), console);
        var run = Task.Run(vm.Run);
        try
        {
            int at = console.WaitFor(DefaultGuestImage.ReadyLinePrefix, 0, BootTimeout);
            at = console.WaitFor("# ", at, CommandTimeout);
            int step = 0;
            string[] Guest(string command, ref int at) => Lines(console.Execute(command, ++step, ref at, CommandTimeout));

            var bound = Guest("ls /sys/bus/virtio/drivers/vmw_vsock_virtio_transport | grep -c virtio", ref at);
            Assert.Contains("1", bound);

            // Guest -> host: a host program listens on uds_path_5000 and hashes what arrives until EOF.
            using (var listener = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified))
            {
                listener.Bind(new UnixDomainSocketEndPoint($"{uds}_5000"));
                listener.Listen(1);
                var received = Task.Run(() =>
                {
                    using var connection = listener.Accept();
                    return ReadToEnd(connection);
                });
                var sent = Guest($"head -c {Size} /dev/urandom > /tmp/out && sha256sum /tmp/out && vsockcat 2 5000 < /tmp/out && echo sent-ok", ref at);
                output.WriteLine("guest -> host: " + string.Join(" | ", sent));
                Assert.Contains("sent-ok", sent);
                byte[] arrived = await received.WaitAsync(CommandTimeout);
                Assert.Equal(Size, arrived.Length);
                Assert.Contains($"{Hex(arrived)}  /tmp/out", sent);
            }

            // Host -> guest: the guest listens on port 5001; a host program connects through uds_path.
            byte[] data = new byte[Size];
            new Random(5001).NextBytes(data);
            Guest("vsockcat 5001 < /dev/null > /tmp/in & echo listening", ref at);
            using (var host = ConnectToGuest(uds, 5001))
            {
                host.Send(data);
                host.Shutdown(SocketShutdown.Send);
                ReadToEnd(host);
            }
            var check = Guest("wait; sha256sum /tmp/in", ref at);
            output.WriteLine("host -> guest: " + string.Join(" | ", check));
            Assert.Contains($"{Hex(data)}  /tmp/in", check);

            console.Type("poweroff -f\n");
            var result = await run.WaitAsync(CommandTimeout);
            Assert.Equal(VmOutcome.PoweredOff, result.Outcome);
            Assert.False(File.Exists(uds), "the device's socket outlived the VM");
        }
        finally
        {
            output.WriteLine(console.Output);
            vm.Stop("test finished");
            await run.WaitAsync(CommandTimeout);
        }
    }

    /// <summary>CONNECT until the guest's listener is up (a guest without one answers RST: no OK line, EOF).</summary>
    private Socket ConnectToGuest(string uds, uint port)
    {
        var deadline = DateTime.UtcNow + CommandTimeout;
        while (true)
        {
            var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
            socket.Connect(new UnixDomainSocketEndPoint(uds));
            socket.Send(Encoding.ASCII.GetBytes($"CONNECT {port}\n"));
            string line = ReadLine(socket);
            output.WriteLine($"CONNECT {port}: '{line}'");
            if (line.StartsWith("OK ", StringComparison.Ordinal)) return socket;
            socket.Dispose();
            if (DateTime.UtcNow > deadline) throw new TimeoutException($"the guest never accepted port {port}");
            Thread.Sleep(500);
        }
    }

    private static string ReadLine(Socket socket)
    {
        var line = new StringBuilder();
        var one = new byte[1];
        socket.ReceiveTimeout = (int)CommandTimeout.TotalMilliseconds;
        while (socket.Receive(one) == 1 && one[0] != '\n') line.Append((char)one[0]);
        return line.ToString();
    }

    private static byte[] ReadToEnd(Socket socket)
    {
        socket.ReceiveTimeout = (int)CommandTimeout.TotalMilliseconds;
        using var all = new MemoryStream();
        var buffer = new byte[65536];
        int n;
        while ((n = socket.Receive(buffer)) > 0) all.Write(buffer, 0, n);
        return all.ToArray();
    }

    private static string Hex(byte[] data) => Convert.ToHexString(SHA256.HashData(data)).ToLowerInvariant();
}
