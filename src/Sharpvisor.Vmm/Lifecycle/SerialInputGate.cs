using Sharpvisor.Machine.Devices.Serial;

namespace Sharpvisor.Vmm.Lifecycle;

/// <summary>
/// What is typed into the guest's serial port, held until a boot's UART can take it and, with a hold marker
/// (<see cref="Configuration.VmConfig.HoldInputUntilOutput"/>), until the guest has printed the marker (its shell is
/// ready): bytes typed earlier would fill a receive FIFO the kernel has not set up yet and be lost. Each boot attaches
/// its UART and must show the marker again.
/// </summary>
internal sealed class SerialInputGate(byte[]? holdMarker)
{
    // Guards the held bytes and the UART; a leaf lock: nothing else is taken while holding it (the UART's own is).
    private readonly Lock _lock = new();
    private readonly List<byte> _held = [];
    private Uart16550? _uart;
    private volatile bool _released;
    private int _matched; // marker bytes matched so far; only the vCPU thread writing the UART touches it

    /// <summary>Types into the guest: at once when the gate is open, else held.</summary>
    public void Send(ReadOnlySpan<byte> bytes)
    {
        lock (_lock)
        {
            if (_uart is { } uart && _released) uart.EnqueueInput(bytes);
            else _held.AddRange(bytes.ToArray());
        }
    }

    /// <summary>A boot's UART; the gate opens at once when there is no marker to wait for.</summary>
    public void Attach(Uart16550 uart)
    {
        lock (_lock)
        {
            _uart = uart;
            _matched = 0;
            _released = holdMarker is null;
            if (_released) ReleaseHeld();
        }
    }

    /// <summary>
    /// Runs <paramref name="work"/> with host input held back: a machine's records taken meanwhile agree about the
    /// UART and its interrupt line (bytes arriving between the UART's record and the IOAPIC's would not).
    /// </summary>
    public T WhileHeld<T>(Func<T> work)
    {
        lock (_lock) return work();
    }

    /// <summary>The boot ended: input waits for the next one.</summary>
    public void Detach()
    {
        lock (_lock) _uart = null;
    }

    /// <summary>Each byte the guest writes, matched against the marker; once it has appeared, held input goes in.</summary>
    public void OnGuestOutput(byte value)
    {
        if (holdMarker is not { } marker || _released) return;
        _matched = value == marker[_matched] ? _matched + 1 : value == marker[0] ? 1 : 0;
        if (_matched < marker.Length) return;
        lock (_lock)
        {
            _released = true;
            ReleaseHeld();
        }
    }

    private void ReleaseHeld()
    {
        if (_uart is null || _held.Count == 0) return;
        _uart.EnqueueInput(_held.ToArray());
        _held.Clear();
    }
}
