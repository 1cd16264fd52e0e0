using System.Buffers.Binary;
using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Devices.Pci;
using Sharpvisor.Machine.Devices.Virtio;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Machine.Tests.Devices.Virtio;

/// <summary>
/// Plays the guest's virtio-pci driver against a device in a small machine: 4 MiB of RAM at 0, an MMIO bus, a PCI
/// root with the BAR allocator, and a recording interrupt controller. Queue 0's rings sit at fixed addresses.
/// </summary>
public sealed class FakeVirtioDriver : IDisposable
{
    public const ulong RamSize = 4 << 20;
    public const ulong DescriptorTable = 0x10000, AvailableRing = 0x20000, UsedRing = 0x30000, DataArea = 0x100000;
    public const ushort DefaultQueueSize = 64;

    private ushort _nextDescriptor;
    private ushort _availableIndex;

    public FakeVirtioDriver(IVirtioDevice model)
    {
        Memory = new GuestMemory([(0UL, RamSize)]);
        Device = new VirtioPciDevice(model, Memory, Mmio, Interrupts, Log.Add);
        Device.AttachTo(Root, new PciBarAllocator(X86MemoryLayout.PciMmioStart, X86MemoryLayout.PciMmioEnd));
    }

    public GuestMemory Memory { get; }
    public MmioBus Mmio { get; } = new();
    public PciRoot Root { get; } = new();
    public RecordingInterruptController Interrupts { get; } = new();
    public VirtioPciDevice Device { get; }
    public List<string> Log { get; } = [];
    public ushort QueueSize { get; private set; } = DefaultQueueSize;
    public ulong Bar0 => Device.ConfigSpace.GetBarAddress(VirtioPciDevice.VirtioBar);
    public ulong Bar1 => Device.ConfigSpace.GetBarAddress(VirtioPciDevice.MsixBar);

    public ulong ReadCommon(int offset, int size) => ReadBar(Bar0 + (ulong)offset, size);
    public void WriteCommon(int offset, int size, ulong value) => WriteBar(Bar0 + (ulong)offset, size, value);

    public ulong ReadBar(ulong address, int size)
    {
        Span<byte> data = stackalloc byte[size];
        Mmio.Read(address, data);
        ulong value = 0;
        for (int i = 0; i < size; i++) value |= (ulong)data[i] << (8 * i);
        return value;
    }

    public void WriteBar(ulong address, int size, ulong value)
    {
        Span<byte> data = stackalloc byte[size];
        for (int i = 0; i < size; i++) data[i] = (byte)(value >> (8 * i));
        Mmio.Write(address, data);
    }

    public byte Status => (byte)ReadCommon(VirtioPciDevice.DeviceStatusRegister, 1);

    public ulong OfferedFeatures()
    {
        WriteCommon(VirtioPciDevice.DeviceFeatureSelectRegister, 4, 0);
        ulong low = ReadCommon(VirtioPciDevice.DeviceFeatureRegister, 4);
        WriteCommon(VirtioPciDevice.DeviceFeatureSelectRegister, 4, 1);
        return low | ReadCommon(VirtioPciDevice.DeviceFeatureRegister, 4) << 32;
    }

    /// <summary>Negotiates <paramref name="features"/> (default: all offered); returns whether FEATURES_OK stuck.</summary>
    public bool Negotiate(ulong? features = null)
    {
        WriteCommon(VirtioPciDevice.DeviceStatusRegister, 1, 0);
        WriteCommon(VirtioPciDevice.DeviceStatusRegister, 1, VirtioStatus.Acknowledge);
        WriteCommon(VirtioPciDevice.DeviceStatusRegister, 1, VirtioStatus.Acknowledge | VirtioStatus.Driver);
        ulong accepted = features ?? OfferedFeatures();
        WriteCommon(VirtioPciDevice.DriverFeatureSelectRegister, 4, 0);
        WriteCommon(VirtioPciDevice.DriverFeatureRegister, 4, (uint)accepted);
        WriteCommon(VirtioPciDevice.DriverFeatureSelectRegister, 4, 1);
        WriteCommon(VirtioPciDevice.DriverFeatureRegister, 4, accepted >> 32);
        WriteCommon(VirtioPciDevice.DeviceStatusRegister, 1, VirtioStatus.Acknowledge | VirtioStatus.Driver | VirtioStatus.FeaturesOk);
        return (Status & VirtioStatus.FeaturesOk) != 0;
    }

    /// <summary>
    /// Programs queue <paramref name="queueIndex"/> (default 0) at the fixed ring addresses (with MSI-X vector
    /// <paramref name="msixVector"/>) and sets DRIVER_OK; the device's other queues stay disabled.
    /// </summary>
    public void Start(ulong? features = null, ushort queueSize = DefaultQueueSize, ushort? msixVector = null, int queueIndex = 0)
    {
        Assert.True(Negotiate(features), "FEATURES_OK was refused");
        Memory.GetSpan(0, 0x40000).Clear();
        QueueSize = queueSize;
        _nextDescriptor = 0;
        _availableIndex = 0;
        WriteCommon(VirtioPciDevice.QueueSelectRegister, 2, (ulong)queueIndex);
        WriteCommon(VirtioPciDevice.QueueSizeRegister, 2, queueSize);
        WriteCommon(VirtioPciDevice.QueueDescRegister, 4, DescriptorTable);
        WriteCommon(VirtioPciDevice.QueueDescRegister + 4, 4, 0);
        WriteCommon(VirtioPciDevice.QueueDriverRegister, 8, AvailableRing);
        WriteCommon(VirtioPciDevice.QueueDeviceRegister, 4, UsedRing);
        WriteCommon(VirtioPciDevice.QueueDeviceRegister + 4, 4, 0);
        if (msixVector is { } vector) WriteCommon(VirtioPciDevice.QueueMsixVectorRegister, 2, vector);
        WriteCommon(VirtioPciDevice.QueueEnableRegister, 2, 1);
        WriteCommon(VirtioPciDevice.DeviceStatusRegister, 1,
            VirtioStatus.Acknowledge | VirtioStatus.Driver | VirtioStatus.FeaturesOk | VirtioStatus.DriverOk);
    }

    /// <summary>Turns MSI-X on and programs table entry <paramref name="vector"/> unmasked.</summary>
    public void EnableMsix(int vector, ulong address, uint data)
    {
        int cap = Device.ConfigSpace.FindCapability(PciMsix.CapabilityId);
        Device.WriteConfig(cap + 2, 2, PciMsix.ControlEnable);
        ulong entry = Bar1 + (ulong)(vector * PciMsix.EntrySize);
        WriteBar(entry, 4, (uint)address);
        WriteBar(entry + 4, 4, address >> 32);
        WriteBar(entry + 8, 4, data);
        WriteBar(entry + 12, 4, 0);
    }

    /// <summary>Writes a chain of buffers into the descriptor table (direct) and makes it available; returns its head.</summary>
    public ushort Submit(params (ulong Address, uint Length, bool Writable)[] buffers)
    {
        ushort head = _nextDescriptor;
        for (int i = 0; i < buffers.Length; i++)
        {
            ushort index = (ushort)((head + i) % QueueSize);
            ushort flags = (ushort)((buffers[i].Writable ? Virtqueue.DescriptorWrite : 0) | (i + 1 < buffers.Length ? Virtqueue.DescriptorNext : 0));
            WriteDescriptor(DescriptorTable, index, buffers[i].Address, buffers[i].Length, flags, (ushort)((index + 1) % QueueSize));
        }
        _nextDescriptor = (ushort)((head + buffers.Length) % QueueSize);
        Publish(head);
        return head;
    }

    /// <summary>A chain that is one indirect descriptor pointing at a table at <paramref name="tableAddress"/>.</summary>
    public ushort SubmitIndirect(ulong tableAddress, params (ulong Address, uint Length, bool Writable)[] buffers)
    {
        for (int i = 0; i < buffers.Length; i++)
        {
            ushort flags = (ushort)((buffers[i].Writable ? Virtqueue.DescriptorWrite : 0) | (i + 1 < buffers.Length ? Virtqueue.DescriptorNext : 0));
            WriteDescriptor(tableAddress, (ushort)i, buffers[i].Address, buffers[i].Length, flags, (ushort)(i + 1));
        }
        ushort head = _nextDescriptor;
        WriteDescriptor(DescriptorTable, head, tableAddress, (uint)(16 * buffers.Length), Virtqueue.DescriptorIndirect, 0);
        _nextDescriptor = (ushort)((head + 1) % QueueSize);
        Publish(head);
        return head;
    }

    public void WriteDescriptor(ulong table, ushort index, ulong address, uint length, ushort flags, ushort next)
    {
        ulong at = table + 16UL * index;
        Memory.WriteUInt64(at, address);
        Memory.WriteUInt32(at + 8, length);
        Memory.WriteUInt16(at + 12, flags);
        Memory.WriteUInt16(at + 14, next);
    }

    /// <summary>Puts <paramref name="head"/> in the next available slot and bumps the available index.</summary>
    public void Publish(ushort head)
    {
        Memory.WriteUInt16(AvailableRing + 4 + 2UL * (ushort)(_availableIndex % QueueSize), head);
        _availableIndex++;
        Memory.WriteUInt16(AvailableRing + 2, _availableIndex);
    }

    public ushort AvailableIndex => _availableIndex;
    public ushort UsedIndex => Memory.ReadUInt16(UsedRing + 2);
    public (uint Id, uint Length) UsedElement(int slot) =>
        (Memory.ReadUInt32(UsedRing + 4 + 8UL * (ulong)(slot % QueueSize)), Memory.ReadUInt32(UsedRing + 8 + 8UL * (ulong)(slot % QueueSize)));

    public void Notify(int queue = 0) =>
        WriteBar(Bar0 + VirtioPciDevice.NotifyOffset + (ulong)(VirtioPciDevice.NotifyOffsetMultiplier * queue), 2, (ulong)queue);

    /// <summary>Waits (for devices with an I/O thread) until the used index reaches <paramref name="count"/> or the device breaks.</summary>
    public bool WaitUsed(ushort count, int timeoutMs = 5000)
    {
        var deadline = Environment.TickCount64 + timeoutMs;
        while (Environment.TickCount64 < deadline)
        {
            if (UsedIndex == count) return true;
            if (Device.IsBroken) return false;
            Thread.Yield();
        }
        return UsedIndex == count;
    }

    public void Dispose()
    {
        Device.Dispose();
        Memory.Dispose();
    }
}
