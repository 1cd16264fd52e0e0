using System.Text;
using Sharpvisor.Machine.Devices.Virtio;
using Sharpvisor.Machine.Native;

namespace Sharpvisor.Vmm.Networking;

/// <summary>
/// A virtio-net backend on a Linux tap interface (/dev/net/tun, IFF_TAP | IFF_NO_PI: plain Ethernet frames). Opening
/// attaches to the named interface, or creates it when it does not exist (it then lasts as long as this object, as
/// with QEMU's -netdev tap), and brings it up. A reader thread polls the tap and an eventfd; it reads every frame
/// waiting (up to <see cref="MaxFramesPerBatch"/>), delivers each and then ends the batch, so the guest gets one
/// interrupt per burst. Frames are written from the device's transmit thread. Stop ends the reader (a later Start
/// begins another for the next device); Dispose also closes the tap.
/// </summary>
public sealed class TapBackend : IVirtioNetBackend
{
    public const int MaxFramesPerBatch = 64;
    private const int ReadBufferSize = 65536;

    private readonly int _tap;
    private readonly int _stopEvent;
    private readonly Action<string>? _log;
    private readonly object _readerLock = new();
    private Thread? _reader; // guarded by _readerLock
    private volatile bool _stopping;
    private int _disposed;

    private TapBackend(string name, int tap, int stopEvent, bool created, Action<string>? log)
    {
        Name = name;
        _tap = tap;
        _stopEvent = stopEvent;
        Created = created;
        _log = log;
    }

    public string Name { get; }
    /// <summary>Whether the interface did not exist and opening it created it (it goes away when this is disposed).</summary>
    public bool Created { get; }

    /// <summary>Frames read from the tap (delivered or dropped by the device).</summary>
    public long FramesRead => Interlocked.Read(ref _framesRead);
    private long _framesRead;

    /// <summary>A valid interface name: 1-15 bytes, none of '/', ':', whitespace, and not "." or "..".</summary>
    public static bool IsValidInterfaceName(string name) =>
        name.Length is > 0 and < TapIoctls.InterfaceNameSize && name is not "." and not ".." &&
        name.All(c => c > ' ' && c < 0x7F && c != '/' && c != ':');

    /// <summary>Attaches to tap <paramref name="name"/>, creating it if missing, and brings it up. Throws <see cref="IOException"/>.</summary>
    public static unsafe TapBackend Open(string name, Action<string>? log = null)
    {
        ArgumentNullException.ThrowIfNull(name);
        if (!IsValidInterfaceName(name)) throw new ArgumentException($"'{name}' is not a valid network interface name", nameof(name));
        bool existed = InterfaceExists(name);
        int tap = Libc.open("/dev/net/tun", Libc.ORdWr | Libc.ONonBlock | Libc.OCloExec);
        if (tap < 0)
        {
            int errno = Libc.LastError;
            throw new IOException($"cannot open /dev/net/tun for tap {name}: {Libc.Describe(errno)}" +
                                  (errno == 2 ? " (no tun driver: modprobe tun)" : ""));
        }
        int stopEvent = -1;
        try
        {
            byte* request = stackalloc byte[TapIoctls.InterfaceRequestSize];
            FillRequest(request, name, TapIoctls.IffTap | TapIoctls.IffNoPacketInfo);
            if (Libc.ioctl(tap, TapIoctls.TunSetInterface, request) < 0)
            {
                int errno = Libc.LastError;
                string why = errno switch
                {
                    1 => existed ? "not allowed (is the tap owned by another user?)" : "creating a tap needs CAP_NET_ADMIN (run as root, or create it first with `ip tuntap add NAME mode tap user USER`)",
                    16 => "it is busy (another process is attached to it)",
                    22 => "it is not a tap interface (or its flags differ)",
                    _ => Libc.Describe(errno),
                };
                throw new IOException($"cannot attach to tap {name}: {why}");
            }
            stopEvent = Libc.eventfd(0, Libc.EfdCloExec | Libc.EfdNonBlock);
            if (stopEvent < 0) throw new IOException($"eventfd failed: {Libc.Describe(Libc.LastError)}");
            var backend = new TapBackend(name, tap, stopEvent, created: !existed, log);
            backend.BringUp();
            return backend;
        }
        catch
        {
            if (stopEvent >= 0) Libc.close(stopEvent);
            Libc.close(tap);
            throw;
        }
    }

    public void Start(IVirtioNetReceiver receiver)
    {
        ArgumentNullException.ThrowIfNull(receiver);
        lock (_readerLock)
        {
            ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
            if (_reader is not null) throw new InvalidOperationException($"tap {Name} is already started");
            _stopping = false;
            _reader = new Thread(() => ReadLoop(receiver)) { IsBackground = true, Name = $"tap {Name} reader" };
            _reader.Start();
        }
    }

    public unsafe void Stop()
    {
        lock (_readerLock)
        {
            if (_reader is null) return;
            _stopping = true;
            ulong one = 1, drained;
            Libc.write(_stopEvent, (byte*)&one, sizeof(ulong));
            _reader.Join();
            _reader = null;
            Libc.read(_stopEvent, (byte*)&drained, sizeof(ulong)); // back to zero, for the next reader's poll
        }
    }

    public unsafe void Send(ReadOnlySpan<byte> frame)
    {
        fixed (byte* data = frame)
        {
            while (true)
            {
                nint written = Libc.write(_tap, data, (nuint)frame.Length);
                if (written >= 0) return;
                int errno = Libc.LastError;
                if (errno == Libc.ErrnoInterrupted) continue;
                throw new IOException($"tap {Name}: write failed: {Libc.Describe(errno)}");
            }
        }
    }

    public void Dispose()
    {
        lock (_readerLock)
        {
            if (Interlocked.Exchange(ref _disposed, 1) != 0) return;
        }
        Stop();
        Libc.close(_stopEvent);
        Libc.close(_tap);
    }

    private unsafe void ReadLoop(IVirtioNetReceiver receiver)
    {
        var buffer = new byte[ReadBufferSize];
        var descriptors = stackalloc Libc.PollDescriptor[2];
        fixed (byte* data = buffer)
        {
            while (!_stopping)
            {
                descriptors[0] = new Libc.PollDescriptor { Fd = _tap, Events = Libc.PollIn };
                descriptors[1] = new Libc.PollDescriptor { Fd = _stopEvent, Events = Libc.PollIn };
                if (Libc.poll(descriptors, 2, -1) < 0)
                {
                    int errno = Libc.LastError;
                    if (errno == Libc.ErrnoInterrupted) continue;
                    _log?.Invoke($"tap {Name}: poll failed, no more frames from it: {Libc.Describe(errno)}");
                    return;
                }
                if (descriptors[1].ReturnedEvents != 0) return;
                if ((descriptors[0].ReturnedEvents & (Libc.PollErr | Libc.PollHup | Libc.PollNval)) != 0)
                {
                    _log?.Invoke($"tap {Name}: the interface went away (poll events 0x{descriptors[0].ReturnedEvents:x}), no more frames from it");
                    return;
                }
                for (int frames = 0; frames < MaxFramesPerBatch && !_stopping; frames++)
                {
                    nint got = Libc.read(_tap, data, ReadBufferSize);
                    if (got < 0)
                    {
                        int errno = Libc.LastError;
                        if (errno == Libc.ErrnoInterrupted) continue;
                        if (errno == Libc.ErrnoAgain) break;
                        _log?.Invoke($"tap {Name}: read failed, no more frames from it: {Libc.Describe(errno)}");
                        receiver.EndOfBatch();
                        return;
                    }
                    if (got == 0) break;
                    Interlocked.Increment(ref _framesRead);
                    receiver.Deliver(new ReadOnlySpan<byte>(data, (int)got));
                }
                receiver.EndOfBatch();
            }
        }
    }

    // The tap is created down; a VMM user expects it usable (QEMU's ifup script does the same).
    private unsafe void BringUp()
    {
        int socket = Libc.socket(Libc.AfInet, Libc.SockDgram, 0);
        if (socket < 0) throw new IOException($"socket failed: {Libc.Describe(Libc.LastError)}");
        try
        {
            byte* request = stackalloc byte[TapIoctls.InterfaceRequestSize];
            FillRequest(request, Name, 0);
            if (Libc.ioctl(socket, TapIoctls.SiocGetInterfaceFlags, request) < 0)
                throw new IOException($"cannot read the flags of {Name}: {Libc.Describe(Libc.LastError)}");
            short* flags = (short*)(request + TapIoctls.InterfaceNameSize);
            if ((*flags & TapIoctls.IffUp) != 0) return;
            *flags |= TapIoctls.IffUp;
            if (Libc.ioctl(socket, TapIoctls.SiocSetInterfaceFlags, request) < 0)
            {
                // An existing tap the user may attach to but not configure: usable once someone brings it up.
                string why = Libc.Describe(Libc.LastError);
                if (Created) throw new IOException($"cannot bring {Name} up: {why}");
                _log?.Invoke($"tap {Name} is down and could not be brought up ({why}): bring it up with `ip link set {Name} up`");
            }
        }
        finally
        {
            Libc.close(socket);
        }
    }

    // Asked of the kernel, not of /sys/class/net: a confined VMM (the daemon's jail) has no /sys, and its tap exists.
    private static unsafe bool InterfaceExists(string name)
    {
        int socket = Libc.socket(Libc.AfInet, Libc.SockDgram, 0);
        if (socket < 0) throw new IOException($"socket failed: {Libc.Describe(Libc.LastError)}");
        try
        {
            byte* request = stackalloc byte[TapIoctls.InterfaceRequestSize];
            FillRequest(request, name, 0);
            return Libc.ioctl(socket, TapIoctls.SiocGetInterfaceFlags, request) == 0;
        }
        finally
        {
            Libc.close(socket);
        }
    }

    private static unsafe void FillRequest(byte* request, string name, short flags)
    {
        var span = new Span<byte>(request, TapIoctls.InterfaceRequestSize);
        span.Clear();
        Encoding.ASCII.GetBytes(name, span[..(TapIoctls.InterfaceNameSize - 1)]);
        *(short*)(request + TapIoctls.InterfaceNameSize) = flags;
    }
}
