using System.Collections.Concurrent;
using System.Security.Cryptography;
using Sharpvisor.Machine.Devices.Virtio;
using Sharpvisor.Vmm.Networking;

namespace Sharpvisor.Vmm.Tests.Networking;

/// <summary>
/// The tap backend on a real tap, moved into a namespace of its own: it creates the interface and brings it up, frames
/// the host side sends arrive at the receiver in batches, frames written go out on the interface, and disposing
/// removes the tap it created.
/// </summary>
public sealed class TapBackendTests
{
    private sealed class Recorder : IVirtioNetReceiver
    {
        public readonly ConcurrentQueue<byte[]> Frames = new();
        public int Batches;
        public bool Deliver(ReadOnlySpan<byte> frame)
        {
            Frames.Enqueue(frame.ToArray());
            return true;
        }
        public void EndOfBatch() => Interlocked.Increment(ref Batches);
    }

    [Fact]
    public void Bad_interface_names_are_refused_before_touching_the_system()
    {
        Assert.Throws<ArgumentException>(() => TapBackend.Open("a/b"));
        Assert.Throws<ArgumentException>(() => TapBackend.Open("sixteen-chars-xx"));
        Assert.False(TapBackend.IsValidInterfaceName(".."));
        Assert.True(TapBackend.IsValidInterfaceName("tap0"));
    }

    [RootNetworkFact]
    public void Creates_the_tap_brings_it_up_carries_frames_both_ways_and_removes_it()
    {
        string id = Convert.ToHexString(RandomNumberGenerator.GetBytes(3)).ToLowerInvariant();
        string name = $"svtb{id}";
        using var space = new NetworkNamespace($"sharpvisor-tap-{id}");
        var recorder = new Recorder();
        var tap = TapBackend.Open(name);
        try
        {
            Assert.True(tap.Created);
            Assert.Contains(",UP", NetworkNamespace.Ip($"link show {name}"));
            NetworkNamespace.Ip($"link set {name} netns {space.Name}");
            space.Exec($"addr add 10.215.0.1/24 dev {name}");
            space.Exec($"link set {name} up");
            tap.Start(recorder);

            // A datagram to 10.215.0.2 makes the host side resolve it: an ARP request comes out of the tap (no one answers).
            space.SendUdp(System.Net.IPAddress.Parse("10.215.0.2"), 9, [1, 2, 3]);
            Assert.True(SpinWait.SpinUntil(() => recorder.Frames.Any(IsArpRequestFor10_215_0_2), 5000),
                $"no ARP request among {recorder.Frames.Count} frames");
            Assert.True(Volatile.Read(ref recorder.Batches) >= 1);
            Assert.Equal(recorder.Frames.Count, tap.FramesRead);

            // A frame written to the tap is received by the interface.
            long before = long.Parse(space.Exec($"-s -j link show {name}").Split("\"rx\":{\"bytes\":")[1].Split(',')[0]);
            var frame = new byte[60];
            frame.AsSpan(0, 6).Fill(0xFF);                                  // broadcast
            new byte[] { 0x52, 0x54, 0, 0, 0, 9 }.CopyTo(frame, 6);
            frame[12] = 0x88; frame[13] = 0xB5;                             // local experimental EtherType
            tap.Send(frame);
            Assert.True(SpinWait.SpinUntil(() =>
                long.Parse(space.Exec($"-s -j link show {name}").Split("\"rx\":{\"bytes\":")[1].Split(',')[0]) >= before + 60, 5000));
        }
        finally
        {
            tap.Dispose();
        }
        Assert.DoesNotContain(name, space.Exec("link show"));
    }

    /// <summary>
    /// A guest reboot: the old device stops the backend, the new one starts it. The tap and the address the host gave
    /// it stay (it is the same interface, same index), and frames reach the new receiver only.
    /// </summary>
    [RootNetworkFact]
    public void A_stopped_tap_starts_again_for_the_next_receiver_and_keeps_its_address()
    {
        string id = Convert.ToHexString(RandomNumberGenerator.GetBytes(3)).ToLowerInvariant();
        string name = $"svts{id}";
        using var space = new NetworkNamespace($"sharpvisor-tapre-{id}");
        using (var tap = TapBackend.Open(name))
        {
            NetworkNamespace.Ip($"link set {name} netns {space.Name}");
            space.Exec($"addr add 10.216.0.1/24 dev {name}");
            space.Exec($"link set {name} up");
            string index = space.Exec($"-j link show {name}").Split("\"ifindex\":")[1].Split(',')[0];
            var first = new Recorder();
            tap.Start(first);
            tap.Stop();
            tap.Stop(); // idempotent
            var second = new Recorder();
            tap.Start(second);
            space.SendUdp(System.Net.IPAddress.Parse("10.216.0.2"), 9, [1, 2, 3]);
            Assert.True(SpinWait.SpinUntil(() => second.Frames.Any(f => f.Length >= 42 && f[12] == 0x08 && f[13] == 0x06), 5000),
                $"no ARP request reached the second receiver ({second.Frames.Count} frames)");
            Assert.Contains("10.216.0.1/24", space.Exec($"addr show {name}"));
            Assert.Equal(index, space.Exec($"-j link show {name}").Split("\"ifindex\":")[1].Split(',')[0]);
        }
        Assert.DoesNotContain(name, space.Exec("link show"));
    }

    private static bool IsArpRequestFor10_215_0_2(byte[] frame) =>
        frame.Length >= 42 && frame[12] == 0x08 && frame[13] == 0x06 && frame[21] == 1 &&
        frame.AsSpan(38, 4).SequenceEqual(new byte[] { 10, 215, 0, 2 });
}
