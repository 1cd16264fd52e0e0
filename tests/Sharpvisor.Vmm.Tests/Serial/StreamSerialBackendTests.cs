using Sharpvisor.Vmm.Serial;

namespace Sharpvisor.Vmm.Tests.Serial;

public sealed class StreamSerialBackendTests
{
    /// <summary>
    /// 64 KiB through a one-page non-blocking pipe whose reader takes 512 bytes every 2 ms: every byte arrives, in order
    /// (a write that would block waits for the reader instead of dropping the byte).
    /// </summary>
    [Fact]
    public async Task Output_to_a_full_non_blocking_pipe_waits_for_the_reader_and_loses_nothing()
    {
        var expected = new byte[64 << 10];
        for (int i = 0; i < expected.Length; i++) expected[i] = (byte)('a' + i % 26);
        using var pipe = new NonBlockingPipe();
        var read = pipe.ReadSlowly(512, TimeSpan.FromMilliseconds(2));
        using (var backend = new StreamSerialBackend(pipe.Writer, null, escapes: false))
        {
            foreach (byte b in expected) backend.Write(b);
        }
        pipe.Writer.Dispose(); // the reader sees the end
        byte[] received = await read.WaitAsync(TimeSpan.FromSeconds(60));
        Assert.Equal(expected.Length, received.Length);
        Assert.Equal(expected, received);
    }

    /// <summary>
    /// A reader that never reads: the first byte that does not fit waits the give-up time (10 s), later ones are dropped
    /// at once, so a stalled terminal slows the guest once instead of holding its vCPU for good.
    /// </summary>
    [Fact]
    public async Task A_reader_that_never_reads_holds_the_writer_once_for_the_give_up_time_then_output_is_dropped()
    {
        using var pipe = new NonBlockingPipe();
        using var backend = new StreamSerialBackend(pipe.Writer, null, escapes: false);
        for (int i = 0; i < 4096; i++) backend.Write((byte)'x'); // fills the page
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await Task.Run(() => backend.Write((byte)'y')).WaitAsync(TimeSpan.FromSeconds(30));
        var first = clock.Elapsed;
        clock.Restart();
        await Task.Run(() => { for (int i = 0; i < 1000; i++) backend.Write((byte)'z'); }).WaitAsync(TimeSpan.FromSeconds(30));
        Assert.InRange(first.TotalSeconds, 9.5, 20.0);
        Assert.InRange(clock.Elapsed.TotalSeconds, 0.0, 2.0);
    }
}
