using System.Buffers.Binary;
using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Devices.Pci;
using Sharpvisor.Machine.Devices.State;
using Sharpvisor.Machine.Interrupts;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Machine.Devices.Virtio;

/// <summary>
/// The virtio 1.x PCI transport, modern interface only (virtio 1.x, section 4.1): vendor 0x1AF4, device 0x1040 + type,
/// revision 1, with vendor capabilities that point into BAR 0 for the common configuration (0x0000), the ISR
/// (0x1000), the device configuration (0x2000) and the notification area (0x3000, 4 bytes per queue), a PCI
/// configuration access capability, and MSI-X (one vector per queue plus one for configuration changes) in BAR 1.
/// Without MSI-X the function raises INTA#, level-triggered, until the driver reads the ISR.
/// <para>
/// Feature negotiation requires VERSION_1 and a subset of what was offered; DRIVER_OK validates the enabled queues and
/// makes the device model live; writing 0 to the status resets everything. A guest that breaks the queue protocol
/// gets DEVICE_NEEDS_RESET and a configuration interrupt, and one log line; its queues are ignored until it resets.
/// Accesses of the wrong width or offset read as zero and are dropped when written.
/// </para>
/// </summary>
public sealed class VirtioPciDevice : IPciDevice, IVirtioTransport, IDisposable, IStatefulDevice<VirtioPciDeviceState>
{
    public const ushort PciVendorId = 0x1AF4, PciDeviceIdBase = 0x1040, PciSubsystemId = 0x1100;
    public const byte PciRevisionId = 1;

    public const int VirtioBar = 0, MsixBar = 1;
    public const ulong VirtioBarSize = 0x4000, MsixBarSize = 0x1000;
    public const ulong CommonConfigOffset = 0x0000, IsrOffset = 0x1000, DeviceConfigOffset = 0x2000, NotifyOffset = 0x3000;
    public const int CommonConfigLength = 0x40, NotifyOffsetMultiplier = 4;
    public const uint MsixTableOffset = 0, MsixPendingBitsOffset = 0x800;

    public const byte VendorCapabilityId = 0x09;
    public const byte CapabilityCommon = 1, CapabilityNotify = 2, CapabilityIsr = 3, CapabilityDevice = 4, CapabilityPciConfig = 5;
    public const byte IsrQueue = 1, IsrConfig = 2;

    // Common configuration registers (struct virtio_pci_common_cfg).
    public const int DeviceFeatureSelectRegister = 0x00, DeviceFeatureRegister = 0x04, DriverFeatureSelectRegister = 0x08,
        DriverFeatureRegister = 0x0C, ConfigMsixVectorRegister = 0x10, NumQueuesRegister = 0x12, DeviceStatusRegister = 0x14,
        ConfigGenerationRegister = 0x15, QueueSelectRegister = 0x16, QueueSizeRegister = 0x18, QueueMsixVectorRegister = 0x1A,
        QueueEnableRegister = 0x1C, QueueNotifyOffRegister = 0x1E, QueueDescRegister = 0x20, QueueDriverRegister = 0x28,
        QueueDeviceRegister = 0x30, QueueNotifyDataRegister = 0x38, QueueResetRegister = 0x3A;

    private static readonly (int Offset, int Width)[] CommonFields =
    [
        (0x00, 4), (0x04, 4), (0x08, 4), (0x0C, 4), (0x10, 2), (0x12, 2), (0x14, 1), (0x15, 1), (0x16, 2), (0x18, 2),
        (0x1A, 2), (0x1C, 2), (0x1E, 2), (0x20, 8), (0x28, 8), (0x30, 8), (0x38, 2), (0x3A, 2),
    ];

    private readonly Lock _lock = new();
    // Serialises what calls into the device model (activation, reset, restore), which must not hold _lock: the
    // model's worker threads take _lock when they signal interrupts.
    private readonly Lock _lifecycleLock = new();
    private readonly IVirtioDevice _device;
    private readonly MmioBus _mmio;
    private readonly IInterruptController _interrupts;
    private readonly Action<string>? _log;
    private readonly Virtqueue[] _queues;
    private readonly VirtioPciBarWindow[] _windows;
    private readonly PciMsix _msix;
    private readonly ulong _offeredFeatures;
    private readonly int _pciConfigCapability;
    private InterruptLine? _intx;
    private bool _intxLevel;

    private uint _deviceFeatureSelect, _driverFeatureSelect;
    private ulong _driverFeatures;
    private ushort _configVector = PciMsix.NoVector;
    private byte _status, _generation, _isr;
    private ushort _queueSelect;
    private volatile bool _live;
    private int _broken;

    public VirtioPciDevice(IVirtioDevice device, GuestMemory memory, MmioBus mmio, IInterruptController interrupts,
        Action<string>? log = null, string? name = null)
    {
        ArgumentNullException.ThrowIfNull(device);
        ArgumentNullException.ThrowIfNull(memory);
        ArgumentNullException.ThrowIfNull(mmio);
        ArgumentNullException.ThrowIfNull(interrupts);
        if (device.QueueCount is < 1 or > 64) throw new ArgumentException("a device has 1 to 64 queues", nameof(device));
        if (device.ConfigSize > (int)(NotifyOffset - DeviceConfigOffset))
            throw new ArgumentException("the device configuration does not fit its 4 KiB window", nameof(device));
        _device = device;
        Memory = memory;
        _mmio = mmio;
        _interrupts = interrupts;
        _log = log;
        Name = name ?? $"virtio-{device.DeviceType}";
        _offeredFeatures = device.DeviceFeatures | VirtioFeatures.Transport;
        _queues = new Virtqueue[device.QueueCount];
        for (int i = 0; i < _queues.Length; i++) _queues[i] = new Virtqueue(memory, i, device.MaxQueueSize);
        _windows = [new VirtioPciBarWindow(this, VirtioBar), new VirtioPciBarWindow(this, MsixBar)];

        ConfigSpace = new PciConfigSpace(PciVendorId, (ushort)(PciDeviceIdBase + device.DeviceType), device.PciClassCode,
            PciRevisionId, PciVendorId, PciSubsystemId, interruptPin: 1);
        ConfigSpace.BarMappingChanged += OnBarMappingChanged;
        AddVendorCapability(CapabilityCommon, CommonConfigOffset, CommonConfigLength);
        AddVendorCapability(CapabilityNotify, NotifyOffset, (uint)(NotifyOffsetMultiplier * _queues.Length), NotifyOffsetMultiplier);
        AddVendorCapability(CapabilityIsr, IsrOffset, 4);
        if (device.ConfigSize > 0) AddVendorCapability(CapabilityDevice, DeviceConfigOffset, (uint)device.ConfigSize);
        _pciConfigCapability = AddPciConfigCapability();
        _msix = new PciMsix(ConfigSpace, interrupts, _queues.Length + 1, MsixBar, MsixTableOffset, MsixBar, MsixPendingBitsOffset);
    }

    public string Name { get; }
    public PciConfigSpace ConfigSpace { get; }
    public IVirtioDevice Device => _device;
    public GuestMemory Memory { get; }
    public int Slot { get; private set; } = -1;
    public ulong NegotiatedFeatures => Volatile.Read(ref _driverFeatures);
    public bool IsBroken => Volatile.Read(ref _broken) != 0;
    public bool IsLive => _live;

    public byte Status
    {
        get { lock (_lock) return _status; }
    }

    /// <summary>
    /// Plugs the function into <paramref name="root"/>, gives its BARs addresses from <paramref name="allocator"/> (which
    /// maps them) and wires INTA# to the GSI the DSDT's _PRT names for its slot. Returns the slot.
    /// </summary>
    public int AttachTo(PciRoot root, PciBarAllocator allocator, int? slot = null)
    {
        ArgumentNullException.ThrowIfNull(root);
        ArgumentNullException.ThrowIfNull(allocator);
        Slot = root.AddDevice(this, slot);
        uint gsi = PciInterruptRouting.GsiFor(Slot, 1);
        _intx = new InterruptLine(_interrupts, gsi);
        ConfigSpace.Set(PciConfigSpace.InterruptLineOffset, 1, gsi);
        allocator.AssignMemoryBar(ConfigSpace, VirtioBar, VirtioBarSize);
        allocator.AssignMemoryBar(ConfigSpace, MsixBar, MsixBarSize);
        return Slot;
    }

    public Virtqueue GetQueue(int index) => _queues[index];

    // ------------------------------------------------------------------ configuration space

    public uint ReadConfig(int offset, int size)
    {
        int data = _pciConfigCapability + 16;
        if (offset < data + 4 && offset + size > data) RefreshPciConfigData();
        return ConfigSpace.Read(offset, size);
    }

    public void WriteConfig(int offset, int size, uint value)
    {
        ConfigSpace.Write(offset, size, value);
        int data = _pciConfigCapability + 16;
        if (offset < data + 4 && offset + size > data) ForwardPciConfigData();
        // The guest may have unmasked or enabled MSI-X, or toggled INTx disable.
        _msix.ControlWritten();
        lock (_lock) UpdateIntx();
    }

    // ------------------------------------------------------------------ BARs

    internal void ReadBar(int bar, ulong offset, Span<byte> data)
    {
        if (bar == MsixBar)
        {
            if (offset >= MsixPendingBitsOffset) _msix.ReadPendingBits(offset - MsixPendingBitsOffset, data);
            else _msix.ReadTable(offset - MsixTableOffset, data);
            return;
        }
        data.Clear();
        if (offset < CommonConfigLength)
        {
            if (offset + (ulong)data.Length > CommonConfigLength) return;
            lock (_lock)
                for (int i = 0; i < data.Length; i++) data[i] = CommonByte((int)offset + i);
        }
        else if (offset == IsrOffset)
        {
            lock (_lock)
            {
                data[0] = _isr;
                _isr = 0;   // reading the ISR acknowledges it
                UpdateIntx();
            }
        }
        else if (offset >= DeviceConfigOffset && offset < NotifyOffset)
        {
            int at = (int)(offset - DeviceConfigOffset);
            if (at + data.Length <= _device.ConfigSize) _device.ReadConfig(at, data);
        }
    }

    internal void WriteBar(int bar, ulong offset, ReadOnlySpan<byte> data)
    {
        if (bar == MsixBar)
        {
            if (offset < MsixPendingBitsOffset) _msix.WriteTable(offset - MsixTableOffset, data);
            return;
        }
        if (offset < CommonConfigLength)
        {
            if (data.Length is 1 or 2 or 4 or 8 && offset + (ulong)data.Length <= CommonConfigLength)
            {
                ulong value = 0;
                for (int i = 0; i < data.Length; i++) value |= (ulong)data[i] << (8 * i);
                WriteCommon((int)offset, data.Length, value);
            }
        }
        else if (offset >= DeviceConfigOffset && offset < NotifyOffset)
        {
            int at = (int)(offset - DeviceConfigOffset);
            if (at + data.Length <= _device.ConfigSize) _device.WriteConfig(at, data);
        }
        else if (offset >= NotifyOffset && offset < NotifyOffset + (ulong)(NotifyOffsetMultiplier * _queues.Length))
        {
            int queue = (int)(offset - NotifyOffset) / NotifyOffsetMultiplier;
            if (_live && !IsBroken && _queues[queue].Enabled) _device.QueueNotified(queue);
        }
    }

    private void OnBarMappingChanged(PciBarMappingChange change)
    {
        if (change.BarIndex >= _windows.Length) return;
        var window = _windows[change.BarIndex];
        if (change.OldAddress is not null) _mmio.Unregister(window);
        if (change.NewAddress is not { } address) return;
        try
        {
            _mmio.Register(address, change.Size, window, $"{Name} BAR {change.BarIndex}");
        }
        catch (BusRangeConflictException e)
        {
            // The guest put the BAR on top of something else: it decodes nothing, as on a machine with a conflict.
            _log?.Invoke($"{Name}: BAR {change.BarIndex} not mapped: {e.Message}");
        }
    }

    // ------------------------------------------------------------------ common configuration

    private byte CommonByte(int offset)
    {
        foreach (var (start, width) in CommonFields)
            if (offset >= start && offset < start + width)
                return (byte)(CommonField(start) >> (8 * (offset - start)));
        return 0;
    }

    private ulong CommonField(int register)
    {
        var queue = _queueSelect < _queues.Length ? _queues[_queueSelect] : null;
        return register switch
        {
            DeviceFeatureSelectRegister => _deviceFeatureSelect,
            DeviceFeatureRegister => _deviceFeatureSelect < 2 ? (uint)(_offeredFeatures >> (32 * (int)_deviceFeatureSelect)) : 0,
            DriverFeatureSelectRegister => _driverFeatureSelect,
            DriverFeatureRegister => _driverFeatureSelect < 2 ? (uint)(_driverFeatures >> (32 * (int)_driverFeatureSelect)) : 0,
            ConfigMsixVectorRegister => _configVector,
            NumQueuesRegister => (ulong)_queues.Length,
            DeviceStatusRegister => _status,
            ConfigGenerationRegister => _generation,
            QueueSelectRegister => _queueSelect,
            QueueSizeRegister => queue?.Size ?? 0,
            QueueMsixVectorRegister => queue?.MsixVector ?? PciMsix.NoVector,
            QueueEnableRegister => queue is { Enabled: true } ? 1UL : 0,
            QueueNotifyOffRegister => queue is null ? 0 : (ulong)queue.Index,
            QueueDescRegister => queue?.DescriptorTableAddress ?? 0,
            QueueDriverRegister => queue?.AvailableRingAddress ?? 0,
            QueueDeviceRegister => queue?.UsedRingAddress ?? 0,
            _ => 0,
        };
    }

    private void WriteCommon(int offset, int size, ulong value)
    {
        if (offset == DeviceStatusRegister && size == 1)
        {
            WriteStatus((byte)value);
            return;
        }
        lock (_lock)
        {
            var queue = _queueSelect < _queues.Length ? _queues[_queueSelect] : null;
            // Queue addresses are 64-bit registers that drivers also write as two 32-bit halves.
            if (offset is >= QueueDescRegister and < QueueNotifyDataRegister)
            {
                int register = offset & ~7;
                int half = offset & 7;
                if (!(size == 8 && half == 0 || size == 4 && half is 0 or 4)) return;
                if (queue is null || queue.Enabled || _live) return;
                ulong old = CommonField(register);
                ulong mask = size == 8 ? ulong.MaxValue : 0xFFFF_FFFFUL << (8 * half);
                ulong updated = old & ~mask | (value << (8 * half)) & mask;
                if (register == QueueDescRegister) queue.DescriptorTableAddress = updated;
                else if (register == QueueDriverRegister) queue.AvailableRingAddress = updated;
                else queue.UsedRingAddress = updated;
                return;
            }
            if (!IsCommonField(offset, size)) return;
            bool featuresLocked = (_status & VirtioStatus.FeaturesOk) != 0;
            switch (offset)
            {
                case DeviceFeatureSelectRegister: _deviceFeatureSelect = (uint)value; break;
                case DriverFeatureSelectRegister: _driverFeatureSelect = (uint)value; break;
                case DriverFeatureRegister when !featuresLocked && _driverFeatureSelect < 2:
                    int shift = 32 * (int)_driverFeatureSelect;
                    _driverFeatures = _driverFeatures & ~(0xFFFF_FFFFUL << shift) | (value & 0xFFFF_FFFF) << shift;
                    break;
                case ConfigMsixVectorRegister: _configVector = CheckVector((ushort)value); break;
                case QueueSelectRegister: _queueSelect = (ushort)value; break;
                case QueueSizeRegister when queue is { Enabled: false } && !_live: queue.Size = (ushort)value; break;
                case QueueMsixVectorRegister when queue is not null: queue.MsixVector = CheckVector((ushort)value); break;
                case QueueEnableRegister when queue is not null && !_live && value == 1: queue.Enabled = true; break;
            }
        }
    }

    private static bool IsCommonField(int offset, int size)
    {
        foreach (var (start, width) in CommonFields)
            if (start == offset) return width == size;
        return false;
    }

    private ushort CheckVector(ushort vector) => vector < _msix.VectorCount ? vector : PciMsix.NoVector;

    private void WriteStatus(byte value)
    {
        lock (_lifecycleLock)
        {
            if (value == 0)
            {
                ResetDevice();
                return;
            }
            bool activate = false;
            lock (_lock)
            {
                if ((value & VirtioStatus.FeaturesOk) != 0 && (_status & VirtioStatus.FeaturesOk) == 0)
                {
                    bool acceptable = (_driverFeatures & ~_offeredFeatures) == 0 && (_driverFeatures & VirtioFeatures.Version1) != 0;
                    if (!acceptable) value &= unchecked((byte)~VirtioStatus.FeaturesOk);
                }
                if ((value & VirtioStatus.DriverOk) != 0 && (_status & VirtioStatus.DriverOk) == 0)
                {
                    if (((_status | value) & VirtioStatus.FeaturesOk) == 0) value &= unchecked((byte)~VirtioStatus.DriverOk);
                    else activate = true;
                }
                // Only a reset clears status bits.
                _status |= value;
            }
            if (activate) Activate();
        }
    }

    private void Activate()
    {
        ulong features = NegotiatedFeatures;
        foreach (var queue in _queues)
        {
            if (!queue.Enabled) continue;
            queue.EventIndex = (features & VirtioFeatures.RingEventIndex) != 0;
            queue.IndirectDescriptors = (features & VirtioFeatures.RingIndirectDescriptors) != 0;
            if (queue.Validate() is { } problem)
            {
                MarkBroken(problem);
                return;
            }
        }
        if (IsBroken) return;
        _live = true;
        _device.Activate(this);
    }

    private void ResetDevice()
    {
        _live = false;
        _device.Reset();
        lock (_lock)
        {
            _status = 0;
            _deviceFeatureSelect = _driverFeatureSelect = 0;
            _driverFeatures = 0;
            _configVector = PciMsix.NoVector;
            _queueSelect = 0;
            _isr = 0;
            foreach (var queue in _queues) queue.Reset();
            Volatile.Write(ref _broken, 0);
            UpdateIntx();
        }
    }

    // ------------------------------------------------------------------ interrupts

    public void NotifyUsed(int queueIndex)
    {
        if (IsBroken || (uint)queueIndex >= (uint)_queues.Length) return;
        var queue = _queues[queueIndex];
        if (!queue.ShouldInterrupt()) return;
        RaiseInterrupt(queue.MsixVector, IsrQueue);
    }

    public void MarkBroken(string reason)
    {
        lock (_lock)
        {
            if (IsBroken) return;
            _log?.Invoke($"{Name}: device needs reset: {reason}");
            _status |= VirtioStatus.DeviceNeedsReset;
            _generation++;
            // Last, so whoever sees the device broken also sees the status and the log line.
            Volatile.Write(ref _broken, 1);
        }
        RaiseInterrupt(_configVector, IsrConfig);
    }

    /// <summary>Tells the driver the device configuration changed (e.g. a new disk size).</summary>
    public void NotifyConfigChanged()
    {
        lock (_lock) _generation++;
        RaiseInterrupt(_configVector, IsrConfig);
    }

    private void RaiseInterrupt(ushort vector, byte isrBit)
    {
        if (_msix.Enabled)
        {
            if (vector != PciMsix.NoVector) _msix.Signal(vector);
            return;
        }
        lock (_lock)
        {
            _isr |= isrBit;
            UpdateIntx();
        }
    }

    // Caller holds _lock. INTA# follows the ISR unless MSI-X is on or the command register disables INTx.
    private void UpdateIntx()
    {
        bool pending = _isr != 0 && !_msix.Enabled;
        uint status = ConfigSpace.Read(PciConfigSpace.StatusOffset, 2);
        uint wanted = pending ? status | PciConfigSpace.StatusInterrupt : status & ~(uint)PciConfigSpace.StatusInterrupt;
        if (wanted != status) ConfigSpace.Set(PciConfigSpace.StatusOffset, 2, wanted);
        bool level = pending && !ConfigSpace.InterruptDisabled;
        if (level == _intxLevel || _intx is null) return;
        _intxLevel = level;
        _intx.Set(level);
    }

    // ------------------------------------------------------------------ capabilities

    private void AddVendorCapability(byte type, ulong offset, uint length, uint? notifyMultiplier = null)
    {
        Span<byte> body = stackalloc byte[notifyMultiplier is null ? 14 : 18];
        body.Clear();
        body[0] = (byte)(body.Length + 2);          // cap_len counts the ID and next bytes too
        body[1] = type;
        body[2] = VirtioBar;
        BinaryPrimitives.WriteUInt32LittleEndian(body[6..], (uint)offset);
        BinaryPrimitives.WriteUInt32LittleEndian(body[10..], length);
        if (notifyMultiplier is { } multiplier) BinaryPrimitives.WriteUInt32LittleEndian(body[14..], multiplier);
        ConfigSpace.AddCapability(VendorCapabilityId, body);
    }

    // VIRTIO_PCI_CAP_PCI_CFG: a window into the BARs through configuration space (bar, offset, length, data).
    private int AddPciConfigCapability()
    {
        Span<byte> body = stackalloc byte[18];
        body.Clear();
        body[0] = 20;
        body[1] = CapabilityPciConfig;
        Span<byte> writable = stackalloc byte[18];
        writable.Clear();
        writable[2] = 0xFF;                         // bar
        writable[6..18].Fill(0xFF);                 // offset, length, data
        return ConfigSpace.AddCapability(VendorCapabilityId, body, writable);
    }

    private bool TryGetPciConfigWindow(out int bar, out uint offset, out int length)
    {
        bar = (int)ConfigSpace.Read(_pciConfigCapability + 4, 1);
        offset = ConfigSpace.Read(_pciConfigCapability + 8, 4);
        length = (int)ConfigSpace.Read(_pciConfigCapability + 12, 4);
        ulong barSize = bar == VirtioBar ? VirtioBarSize : MsixBarSize;
        return bar is VirtioBar or MsixBar && length is 1 or 2 or 4 && offset + (ulong)length <= barSize;
    }

    private void RefreshPciConfigData()
    {
        if (!TryGetPciConfigWindow(out int bar, out uint offset, out int length)) return;
        Span<byte> bytes = stackalloc byte[4];
        bytes.Clear();
        ReadBar(bar, offset, bytes[..length]);
        ConfigSpace.Set(_pciConfigCapability + 16, 4, BinaryPrimitives.ReadUInt32LittleEndian(bytes));
    }

    private void ForwardPciConfigData()
    {
        if (!TryGetPciConfigWindow(out int bar, out uint offset, out int length)) return;
        Span<byte> bytes = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(bytes, ConfigSpace.Read(_pciConfigCapability + 16, 4));
        WriteBar(bar, offset, bytes[..length]);
    }

    // ------------------------------------------------------------------ state

    public string StateKey => Name;

    /// <summary>The model when it has state beyond its queues (virtio-net, virtio-balloon); the others need none of their own.</summary>
    public IEnumerable<object> StateParts => _device is IStatefulDevice ? [_device] : [];

    public VirtioPciDeviceState SaveState()
    {
        lock (_lifecycleLock)
        lock (_lock)
            return new VirtioPciDeviceState
            {
                ConfigSpace = ConfigSpace.SaveState(), Msix = _msix.SaveState(),
                DeviceFeatureSelect = _deviceFeatureSelect, DriverFeatureSelect = _driverFeatureSelect,
                DriverFeatures = _driverFeatures, ConfigMsixVector = _configVector, Status = _status,
                ConfigGeneration = _generation, QueueSelect = _queueSelect, InterruptStatus = _isr, Broken = IsBroken,
                Queues = _queues.Select(q => q.SaveState()).ToArray(),
            };
    }

    /// <summary>Quiesces the model, loads the state, remaps the BARs and, if the saved driver was running, goes live again.</summary>
    public void RestoreState(VirtioPciDeviceState state)
    {
        ArgumentNullException.ThrowIfNull(state);
        if (state.Queues.Length != _queues.Length)
            throw new ArgumentException($"virtio-pci state has {state.Queues.Length} queues, the device {_queues.Length}", nameof(state));
        lock (_lifecycleLock)
        {
            _live = false;
            _device.Reset();
            ConfigSpace.RestoreState(state.ConfigSpace);
            _msix.RestoreState(state.Msix);
            lock (_lock)
            {
                _deviceFeatureSelect = state.DeviceFeatureSelect;
                _driverFeatureSelect = state.DriverFeatureSelect;
                _driverFeatures = state.DriverFeatures;
                _configVector = state.ConfigMsixVector;
                _status = state.Status;
                _generation = state.ConfigGeneration;
                _queueSelect = state.QueueSelect;
                _isr = state.InterruptStatus;
                Volatile.Write(ref _broken, state.Broken ? 1 : 0);
                for (int i = 0; i < _queues.Length; i++) _queues[i].RestoreState(state.Queues[i]);
                UpdateIntx();
            }
            if ((state.Status & VirtioStatus.DriverOk) != 0 && !state.Broken) Activate();
        }
    }

    public void Dispose()
    {
        lock (_lifecycleLock)
        {
            _live = false;
            _device.Reset();
        }
        (_device as IDisposable)?.Dispose();
    }
}
