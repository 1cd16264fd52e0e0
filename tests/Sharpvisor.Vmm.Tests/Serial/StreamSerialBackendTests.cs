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
}
