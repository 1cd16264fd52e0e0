using System.Diagnostics;
using Sharpvisor.Engines;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Serial;

namespace Sharpvisor.Vmm.Lifecycle;

/// <summary>
/// A VM from start to end: builds the machine, runs its vCPUs, connects the serial console, reboots it when the guest
/// asks (unless told not to), and reports how the run ended. It never throws because of what the guest did.
/// </summary>
public sealed class VirtualMachine(VmConfig config, IEngine engine, ISerialBackend serial) : IDisposable
{
    private readonly object _inputLock = new();
    private readonly List<byte> _inputBeforeBoot = [];
    private volatile MachineInstance? _current;
    private volatile StopLatch? _latch;
    private volatile bool _stopRequested;
    private string _stopReason = "stopped";
    private readonly byte[]? _holdMarker = config.HoldInputUntilOutput is { Length: > 0 } m ? System.Text.Encoding.UTF8.GetBytes(m) : null;
    private int _holdMatched;
    private bool _inputReleased;

    public VmConfig Config { get; } = config;
    public IEngine Engine { get; } = engine;

    /// <summary>Every byte the guest writes to its serial port, for observers beside the backend (tests, host-check).</summary>
    public event Action<byte>? SerialOutput;

    /// <summary>Raised once the machine is built and its vCPUs run (again after each reboot).</summary>
    public event Action<VirtualMachine>? Started;

    /// <summary>
    /// Guest instructions the vCPUs of the running boot (or of the last one, once it ended) retired; null when the
    /// engine does not count them (KVM).
    /// </summary>
    public long? GuestInstructionsRetired
    {
        get
        {
            lock (_inputLock) return _current is { } machine ? CountInstructions(machine) : _lastBootInstructions;
        }
    }

    private long? _lastBootInstructions;

    private static long? CountInstructions(MachineInstance machine)
    {
        long sum = 0;
        foreach (var vcpu in machine.Vcpus)
        {
            if (vcpu is not IInstructionCounter counter) return null;
            sum += counter.InstructionsRetired;
        }
        return sum;
    }

    /// <summary>Types into the guest's serial port.</summary>
    public void SendSerialInput(ReadOnlySpan<byte> bytes)
    {
        lock (_inputLock)
        {
            if (_current is { } machine && _inputReleased) machine.Uart.EnqueueInput(bytes);
            else _inputBeforeBoot.AddRange(bytes.ToArray());
        }
    }

    /// <summary>Stops the guest from outside; <see cref="Run"/> then returns <see cref="VmOutcome.Stopped"/>.</summary>
    public void Stop(string reason)
    {
        _stopReason = reason;
        _stopRequested = true;
        _latch?.TrySet(new(VmOutcome.Stopped, reason));
    }

    public VmRunResult Run()
    {
        var clock = Stopwatch.StartNew();
        byte[] kernel, initrd;
        try
        {
            kernel = File.ReadAllBytes(Config.KernelPath);
            initrd = Config.InitrdPath is null ? [] : File.ReadAllBytes(Config.InitrdPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new(VmOutcome.VmmError, $"cannot read the guest's files: {e.Message}", null, 0, clock.Elapsed);
        }

        serial.Start(SendSerialInput, () => Stop("quit from the console (Ctrl-A x)"));
        for (int boot = 1; ; boot++)
        {
            var latch = new StopLatch();
            _latch = latch;
            if (_stopRequested) return new(VmOutcome.Stopped, _stopReason, null, boot - 1, clock.Elapsed);
            MachineInstance machine;
            try
            {
                machine = new MachineInstance(Config, Engine, kernel, initrd, OnSerialOutput, latch);
            }
            catch (Exception e)
            {
                return new(VmOutcome.VmmError, $"cannot build the machine: {e.Message}", null, boot - 1, clock.Elapsed);
            }
            using (machine)
            {
                lock (_inputLock)
                {
                    _current = machine;
                    _holdMatched = 0;
                    _inputReleased = _holdMarker is null;
                    if (_inputReleased) ReleaseHeldInput(machine);
                }
                machine.Start();
                if (_stopRequested) latch.TrySet(new(VmOutcome.Stopped, _stopReason));
                Started?.Invoke(this);
                latch.Wait();
                machine.Join();
                lock (_inputLock)
                {
                    _lastBootInstructions = CountInstructions(machine);
                    _current = null;
                }
            }
            var reason = latch.Value!;
            if (reason.Reboot && !Config.NoReboot && !_stopRequested) continue;
            return new(reason.Outcome, reason.Message, reason.DebugExitStatus, boot, clock.Elapsed);
        }
    }

    private void OnSerialOutput(byte value)
    {
        serial.Write(value);
        SerialOutput?.Invoke(value);
        if (_holdMarker is { } marker && !_inputReleased) WatchForInputRelease(marker, value);
    }

    // The guest's output is matched against the marker byte by byte; once it has appeared, held input goes in.
    private void WatchForInputRelease(byte[] marker, byte value)
    {
        _holdMatched = value == marker[_holdMatched] ? _holdMatched + 1 : value == marker[0] ? 1 : 0;
        if (_holdMatched < marker.Length) return;
        lock (_inputLock)
        {
            _inputReleased = true;
            if (_current is { } machine) ReleaseHeldInput(machine);
        }
    }

    private void ReleaseHeldInput(MachineInstance machine)
    {
        if (_inputBeforeBoot.Count > 0) machine.Uart.EnqueueInput(_inputBeforeBoot.ToArray());
        _inputBeforeBoot.Clear();
    }

    public void Dispose() => serial.Dispose();
}
