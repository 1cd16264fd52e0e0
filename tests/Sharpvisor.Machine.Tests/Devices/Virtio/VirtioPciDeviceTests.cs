using Sharpvisor.Machine.Devices.Pci;
using Sharpvisor.Machine.Devices.Virtio;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Machine.Tests.Devices.Virtio;

/// <summary>The virtio-pci modern transport, driven through configuration space and BAR 0/1 as Linux's virtio_pci does.</summary>
public sealed class VirtioPciDeviceTests : IDisposable
{
    private readonly VirtioRng _rng = new();
    private readonly FakeVirtioDriver _driver;

    public VirtioPciDeviceTests() => _driver = new FakeVirtioDriver(_rng);

    public void Dispose() => _driver.Dispose();

    [Fact]
    public void Identifies_as_a_modern_virtio_function_with_its_capabilities()
    {
        var config = _driver.Device.ConfigSpace;
        Assert.Equal(0x1AF4, config.VendorId);
        Assert.Equal(0x1044, config.DeviceId);                                // 0x1040 + entropy (4)
        Assert.Equal(1u, config.Read(PciConfigSpace.RevisionIdOffset, 1));
        Assert.Equal(1u, config.Read(PciConfigSpace.InterruptPinOffset, 1));
        Assert.Equal(PciInterruptRouting.GsiFor(_driver.Device.Slot, 1), config.Read(PciConfigSpace.InterruptLineOffset, 1));

        // Walk the capability list as a driver does and collect the virtio structure types.
        var types = new Dictionary<byte, (uint Bar, uint Offset, uint Length)>();
        int at = (int)config.Read(PciConfigSpace.CapabilitiesPointerOffset, 1);
        bool msix = false;
        for (int guard = 0; at != 0 && guard < 48; guard++)
        {
            uint id = config.Read(at, 1);
            if (id == VirtioPciDevice.VendorCapabilityId)
                types[(byte)config.Read(at + 3, 1)] = (config.Read(at + 4, 1), config.Read(at + 8, 4), config.Read(at + 12, 4));
            if (id == PciMsix.CapabilityId) msix = true;
            at = (int)config.Read(at + 1, 1);
        }
        Assert.True(msix);
        Assert.Equal((0u, 0u, 0x40u), types[VirtioPciDevice.CapabilityCommon]);
        Assert.Equal((0u, 0x1000u, 4u), types[VirtioPciDevice.CapabilityIsr]);
        Assert.Equal((0u, 0x3000u, 4u), types[VirtioPciDevice.CapabilityNotify]);
        Assert.True(types.ContainsKey(VirtioPciDevice.CapabilityPciConfig));
        Assert.False(types.ContainsKey(VirtioPciDevice.CapabilityDevice));   // virtio-rng has no configuration
    }

    [Fact]
    public void BARs_are_assigned_in_the_PCI_window_mapped_and_follow_the_guest()
    {
        ulong bar0 = _driver.Bar0;
        Assert.InRange(bar0, X86MemoryLayout.PciMmioStart, X86MemoryLayout.PciMmioEnd - VirtioPciDevice.VirtioBarSize);
        Assert.Equal(0u, bar0 % VirtioPciDevice.VirtioBarSize);
        Assert.True(_driver.Mmio.TryFind(bar0 + 0x12, out _));
        Assert.Equal(1UL, _driver.ReadCommon(VirtioPciDevice.NumQueuesRegister, 2));

        // Sizing: decoding off, all ones, read the mask back.
        _driver.Device.WriteConfig(PciConfigSpace.CommandOffset, 2, 0);
        Assert.False(_driver.Mmio.TryFind(bar0, out _));
        _driver.Device.WriteConfig(PciConfigSpace.Bar0Offset, 4, 0xFFFF_FFFF);
        Assert.Equal(~(uint)(VirtioPciDevice.VirtioBarSize - 1), _driver.Device.ReadConfig(PciConfigSpace.Bar0Offset, 4));
        // The guest moves the BAR and turns decoding back on.
        const uint moved = 0xD000_0000;
        _driver.Device.WriteConfig(PciConfigSpace.Bar0Offset, 4, moved);
        _driver.Device.WriteConfig(PciConfigSpace.CommandOffset, 2, PciConfigSpace.CommandMemorySpace);
        Assert.False(_driver.Mmio.TryFind(bar0, out _));
        Assert.Equal(1UL, _driver.ReadBar(moved + VirtioPciDevice.NumQueuesRegister, 2));
    }

    [Fact]
    public void A_BAR_moved_onto_another_device_is_left_unmapped_with_a_log_line()
    {
        _driver.Device.WriteConfig(PciConfigSpace.Bar0Offset + 4, 4, (uint)_driver.Bar0);
        Assert.Single(_driver.Log);
        Assert.Equal(1UL, _driver.ReadCommon(VirtioPciDevice.NumQueuesRegister, 2));   // BAR 0 still answers
    }

    [Fact]
    public void Feature_negotiation_requires_VERSION_1_and_a_subset_of_the_offer()
    {
        ulong offered = _driver.OfferedFeatures();
        Assert.Equal(VirtioFeatures.Transport, offered);
        Assert.False(_driver.Negotiate(offered & ~VirtioFeatures.Version1));
        Assert.False(_driver.Negotiate(offered | 1UL << 40));
        Assert.True(_driver.Negotiate(offered));
        Assert.Equal(offered, _driver.Device.NegotiatedFeatures);
        // Features are frozen once FEATURES_OK is set.
        _driver.WriteCommon(VirtioPciDevice.DriverFeatureSelectRegister, 4, 1);
        _driver.WriteCommon(VirtioPciDevice.DriverFeatureRegister, 4, 0);
        Assert.Equal(offered, _driver.Device.NegotiatedFeatures);
    }

    [Fact]
    public void MSIX_vectors_read_back_as_no_vector_when_out_of_range()
    {
        _driver.WriteCommon(VirtioPciDevice.ConfigMsixVectorRegister, 2, 1);
        Assert.Equal(1UL, _driver.ReadCommon(VirtioPciDevice.ConfigMsixVectorRegister, 2));
        _driver.WriteCommon(VirtioPciDevice.QueueMsixVectorRegister, 2, 7);
        Assert.Equal((ulong)PciMsix.NoVector, _driver.ReadCommon(VirtioPciDevice.QueueMsixVectorRegister, 2));
    }

    [Fact]
    public void Entropy_request_completes_with_an_MSIX_message_and_random_bytes()
    {
        _driver.EnableMsix(1, 0xFEE0_0000, 0x41);
        _driver.Start(msixVector: 1);
        _driver.Submit((FakeVirtioDriver.DataArea, 64, true));
        _driver.Notify();
        Assert.Equal(1, _driver.UsedIndex);
        Assert.Equal((0u, 64u), _driver.UsedElement(0));
        Assert.Contains(_driver.Memory.GetSpan(FakeVirtioDriver.DataArea, 64).ToArray(), b => b != 0);
        Assert.Equal([(0xFEE0_0000UL, 0x41u)], _driver.Interrupts.Messages);
        Assert.Equal(64, _rng.BytesProvided);
    }

    [Fact]
    public void A_masked_vector_is_pending_and_fires_when_unmasked()
    {
        _driver.EnableMsix(1, 0xFEE0_0000, 0x42);
        _driver.WriteBar(_driver.Bar1 + 16 + 12, 4, PciMsix.VectorControlMasked);
        _driver.Start(msixVector: 1);
        _driver.Submit((FakeVirtioDriver.DataArea, 8, true));
        _driver.Notify();
        Assert.Empty(_driver.Interrupts.Messages);
        Assert.Equal(0b10UL, _driver.ReadBar(_driver.Bar1 + VirtioPciDevice.MsixPendingBitsOffset, 8));
        _driver.WriteBar(_driver.Bar1 + 16 + 12, 4, 0);
        Assert.Equal([(0xFEE0_0000UL, 0x42u)], _driver.Interrupts.Messages);
        Assert.Equal(0UL, _driver.ReadBar(_driver.Bar1 + VirtioPciDevice.MsixPendingBitsOffset, 8));
    }

    [Fact]
    public void Without_MSIX_INTx_is_asserted_until_the_ISR_is_read()
    {
        uint gsi = PciInterruptRouting.GsiFor(_driver.Device.Slot, 1);
        _driver.Start();
        _driver.Submit((FakeVirtioDriver.DataArea, 8, true));
        _driver.Notify();
        Assert.True(_driver.Interrupts.IsAsserted(gsi));
        Assert.NotEqual(0u, _driver.Device.ConfigSpace.Read(PciConfigSpace.StatusOffset, 2) & PciConfigSpace.StatusInterrupt);
        Assert.Equal((ulong)VirtioPciDevice.IsrQueue, _driver.ReadBar(_driver.Bar0 + VirtioPciDevice.IsrOffset, 1));
        Assert.False(_driver.Interrupts.IsAsserted(gsi));
        Assert.Equal(0UL, _driver.ReadBar(_driver.Bar0 + VirtioPciDevice.IsrOffset, 1));
    }

    [Fact]
    public void INTx_disable_in_the_command_register_holds_the_line_low()
    {
        uint gsi = PciInterruptRouting.GsiFor(_driver.Device.Slot, 1);
        _driver.Device.WriteConfig(PciConfigSpace.CommandOffset, 2, PciConfigSpace.CommandMemorySpace | PciConfigSpace.CommandInterruptDisable);
        _driver.Start();
        _driver.Submit((FakeVirtioDriver.DataArea, 8, true));
        _driver.Notify();
        Assert.False(_driver.Interrupts.IsAsserted(gsi));
        _driver.Device.WriteConfig(PciConfigSpace.CommandOffset, 2, PciConfigSpace.CommandMemorySpace);
        Assert.True(_driver.Interrupts.IsAsserted(gsi));
    }

    [Fact]
    public void A_hostile_chain_sets_NEEDS_RESET_logs_once_and_a_reset_recovers()
    {
        _driver.EnableMsix(0, 0xFEE0_0000, 0x50);   // configuration vector
        _driver.Start();
        _driver.WriteCommon(VirtioPciDevice.ConfigMsixVectorRegister, 2, 0);
        _driver.Submit((0x7000_0000_0000, 8, true));
        _driver.Notify();
        _driver.Notify();
        Assert.True(_driver.Device.IsBroken);
        Assert.NotEqual(0, _driver.Status & VirtioStatus.DeviceNeedsReset);
        Assert.Single(_driver.Log);
        Assert.Contains("not in RAM", _driver.Log[0]);
        Assert.Equal([(0xFEE0_0000UL, 0x50u)], _driver.Interrupts.Messages);
        Assert.Equal(0, _driver.UsedIndex);

        _driver.Start();                            // resets and sets the device up again
        Assert.False(_driver.Device.IsBroken);
        _driver.Submit((FakeVirtioDriver.DataArea, 8, true));
        _driver.Notify();
        Assert.Equal(1, _driver.UsedIndex);
    }

    [Fact]
    public void Rings_outside_RAM_at_DRIVER_OK_set_NEEDS_RESET()
    {
        Assert.True(_driver.Negotiate());
        _driver.WriteCommon(VirtioPciDevice.QueueDescRegister, 8, 0x8000_0000);
        _driver.WriteCommon(VirtioPciDevice.QueueEnableRegister, 2, 1);
        _driver.WriteCommon(VirtioPciDevice.DeviceStatusRegister, 1, VirtioStatus.Acknowledge | VirtioStatus.Driver | VirtioStatus.FeaturesOk | VirtioStatus.DriverOk);
        Assert.NotEqual(0, _driver.Status & VirtioStatus.DeviceNeedsReset);
        Assert.False(_driver.Device.IsLive);
    }

    [Fact]
    public void Reset_clears_the_transport_and_queue_configuration()
    {
        _driver.Start();
        _driver.WriteCommon(VirtioPciDevice.DeviceStatusRegister, 1, 0);
        Assert.Equal(0, _driver.Status);
        Assert.Equal(0UL, _driver.ReadCommon(VirtioPciDevice.QueueEnableRegister, 2));
        Assert.Equal(0UL, _driver.ReadCommon(VirtioPciDevice.QueueDescRegister, 8));
        Assert.Equal((ulong)_rng.MaxQueueSize, _driver.ReadCommon(VirtioPciDevice.QueueSizeRegister, 2));
        Assert.Equal(0UL, _driver.Device.NegotiatedFeatures);
    }

    [Fact]
    public void The_PCI_configuration_access_capability_reaches_the_common_configuration()
    {
        int cap = 0;
        for (int at = (int)_driver.Device.ReadConfig(PciConfigSpace.CapabilitiesPointerOffset, 1); at != 0; at = (int)_driver.Device.ReadConfig(at + 1, 1))
            if (_driver.Device.ReadConfig(at, 1) == VirtioPciDevice.VendorCapabilityId && _driver.Device.ReadConfig(at + 3, 1) == VirtioPciDevice.CapabilityPciConfig)
                cap = at;
        Assert.NotEqual(0, cap);
        _driver.Device.WriteConfig(cap + 4, 1, 0);
        _driver.Device.WriteConfig(cap + 8, 4, VirtioPciDevice.QueueSizeRegister);
        _driver.Device.WriteConfig(cap + 12, 4, 2);
        Assert.Equal((uint)_rng.MaxQueueSize, _driver.Device.ReadConfig(cap + 16, 4) & 0xFFFF);
        _driver.Device.WriteConfig(cap + 16, 4, 32);
        Assert.Equal(32UL, _driver.ReadCommon(VirtioPciDevice.QueueSizeRegister, 2));
    }

    [Fact]
    public void State_round_trip_keeps_queue_positions_and_the_device_live()
    {
        _driver.Start();
        _driver.Submit((FakeVirtioDriver.DataArea, 8, true));
        _driver.Notify();
        var state = _driver.Device.SaveState();
        Assert.Equal(1, state.Queues[0].NextAvailableIndex);
        Assert.Equal(1, state.Queues[0].UsedIndex);

        _driver.WriteCommon(VirtioPciDevice.DeviceStatusRegister, 1, 0);
        _driver.Device.RestoreState(state);
        Assert.True(_driver.Device.IsLive);
        var again = _driver.Device.SaveState();
        Assert.Equal(state.Queues[0], again.Queues[0]);
        Assert.Equal(state.Status, again.Status);
        Assert.Equal(state.ConfigSpace.Data, again.ConfigSpace.Data);
        _driver.Submit((FakeVirtioDriver.DataArea, 8, true));
        _driver.Notify();
        Assert.Equal(2, _driver.UsedIndex);
    }
}
