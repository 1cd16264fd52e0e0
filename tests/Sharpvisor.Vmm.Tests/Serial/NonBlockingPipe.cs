using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Sharpvisor.Vmm.Tests.Serial;

/// <summary>
/// A pipe whose write end is non-blocking and holds one page, as a VMM's stdout can be when the process that set it up
/// (a shell sharing a terminal, an event-loop harness) made it O_NONBLOCK: a slow reader makes writes fail with EAGAIN.
/// </summary>
internal sealed class NonBlockingPipe : IDisposable
{
    private const int FSetFl = 4, FGetFl = 3, FSetPipeSize = 1031, ONonBlock = 0x800;

    public NonBlockingPipe()
    {
        var fds = new int[2];
        if (pipe(fds) != 0) throw new IOException($"pipe: errno {Marshal.GetLastPInvokeError()}");
        if (fcntl(fds[1], FSetPipeSize, 4096) < 0) throw new IOException($"F_SETPIPE_SZ: errno {Marshal.GetLastPInvokeError()}");
        if (fcntl(fds[1], FSetFl, fcntl(fds[1], FGetFl, 0) | ONonBlock) < 0) throw new IOException("F_SETFL");
        Reader = new FileStream(new SafeFileHandle(fds[0], ownsHandle: true), FileAccess.Read, 1);
        // Unbuffered, as the CLI opens its stdout.
        Writer = new FileStream(new SafeFileHandle(fds[1], ownsHandle: true), FileAccess.Write, 1);
    }

    public FileStream Reader { get; }
    public FileStream Writer { get; }

    /// <summary>Reads everything until the write end closes, <paramref name="chunk"/> bytes at a time with a pause after each.</summary>
    public Task<byte[]> ReadSlowly(int chunk, TimeSpan pause) => Task.Run(() =>
    {
        var all = new MemoryStream();
        var buffer = new byte[chunk];
        int n;
        while ((n = Reader.Read(buffer, 0, buffer.Length)) > 0)
        {
            all.Write(buffer, 0, n);
            Thread.Sleep(pause);
        }
        return all.ToArray();
    });

    public void Dispose()
    {
        Writer.Dispose();
        Reader.Dispose();
    }

    [DllImport("libc", SetLastError = true)]
    private static extern int pipe(int[] fds);

    [DllImport("libc", SetLastError = true)]
    private static extern int fcntl(int fd, int command, int argument);
}
