using Sharpvisor.Machine.Native;
namespace Sharpvisor.Machine.Devices.Virtio;

/// <summary>
/// virtio-rng (entropy device, virtio 1.x section 5.4): one queue of device-writable buffers, each filled from the
/// host kernel's getrandom(2) (at most 64 KiB per buffer chain). Requests are cheap, so they are served on the vCPU
/// thread that notifies.
/// </summary>
public sealed class VirtioRng : IVirtioDevice
{
    public const int MaxBytesPerRequest = 64 * 1024;
    public const ushort QueueSize = 256;

    private readonly Lock _lock = new();
    private IVirtioTransport? _transport;

    public ushort DeviceType => VirtioDeviceType.Entropy;
    public uint PciClassCode => 0xFF_00_00;          // unclassified device, as QEMU shows it
    public ulong DeviceFeatures => 0;
    public int QueueCount => 1;
    public ushort MaxQueueSize => QueueSize;
    public int ConfigSize => 0;

    /// <summary>Bytes of entropy handed to the guest so far.</summary>
    public long BytesProvided => Interlocked.Read(ref _bytesProvided);
    private long _bytesProvided;

    public void ReadConfig(int offset, Span<byte> data) => data.Clear();
    public void WriteConfig(int offset, ReadOnlySpan<byte> data) { }

    public void Activate(IVirtioTransport transport)
    {
        lock (_lock) _transport = transport;
        QueueNotified(0);   // buffers the driver queued before DRIVER_OK
    }

    public void Reset()
    {
        lock (_lock) _transport = null;
    }

    public void QueueNotified(int queueIndex)
    {
        lock (_lock)
        {
            if (_transport is not { IsBroken: false } transport) return;
            var queue = transport.GetQueue(0);
            try
            {
                do
                {
                    bool any = false;
                    while (queue.Pop() is { } chain)
                    {
                        queue.PushUsed(chain.Head, Fill(chain));
                        any = true;
                    }
                    if (any) transport.NotifyUsed(0);
                    queue.RequestNotification();
                } while (queue.HasAvailable());
            }
            catch (VirtqueueException e)
            {
                transport.MarkBroken(e.Message);
            }
            catch (IOException e)
            {
                transport.MarkBroken($"the host's getrandom failed: {e.Message}");
            }
        }
    }

    private uint Fill(VirtqueueChain chain)
    {
        int budget = MaxBytesPerRequest;
        uint written = 0;
        for (int i = chain.FirstWritable; i < chain.Count && budget > 0; i++)
        {
            int n = (int)Math.Min(chain.LengthOf(i), (uint)budget);
            if (n == 0) continue;
            Libc.FillRandom(chain.SpanOf(i)[..n]);
            chain.MarkWritten(i, (uint)n);
            written += (uint)n;
            budget -= n;
        }
        Interlocked.Add(ref _bytesProvided, written);
        return written;
    }
}
