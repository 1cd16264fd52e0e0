namespace Sharpvisor.Engines.Kvm.Native;

/// <summary>
/// Sizes of the in-kernel device state KVM hands out: struct kvm_irqchip (chip_id, pad, a 512-byte union holding a
/// kvm_pic_state or kvm_ioapic_state) and struct kvm_pit_state2 (three 24-byte channels, flags, 9 reserved words).
/// </summary>
public static class KvmEngineStateLayout
{
    public const int IrqchipSize = 8 + 512;
    public const int Pit2Size = 3 * 24 + 4 + 9 * 4;
    /// <summary>kvm_irqchip chip_id values: the master PIC, the slave PIC, the IOAPIC.</summary>
    public const uint PicMaster = 0, PicSlave = 1, IoApic = 2;
    /// <summary>Our blob: a version word, then the three irqchips in chip order, then the PIT.</summary>
    public const int BlobVersion = 1;
    public const int BlobSize = 4 + 3 * IrqchipSize + Pit2Size;
}
