namespace Sharpvisor.Engines.Kvm.Native;

/// <summary>KVM ioctl request numbers, built the way the kernel's _IO/_IOR/_IOW/_IOWR macros build them.</summary>
public static class KvmIoctls
{
    private const uint Kvmio = 0xAE;
    private static nuint Io(uint nr) => Make(0, nr, 0);
    private static nuint Ior(uint nr, int size) => Make(2, nr, size);
    private static nuint Iow(uint nr, int size) => Make(1, nr, size);
    private static nuint Iowr(uint nr, int size) => Make(3, nr, size);
    private static nuint Make(uint dir, uint nr, int size) => (nuint)((dir << 30) | ((uint)size << 16) | (Kvmio << 8) | nr);

    // System ioctls
    public static readonly nuint GetApiVersion = Io(0x00);
    public static readonly nuint CreateVm = Io(0x01);
    public static readonly nuint GetMsrIndexList = Iowr(0x02, 4);
    public static readonly nuint CheckExtension = Io(0x03);
    public static readonly nuint GetVcpuMmapSize = Io(0x04);
    public static readonly nuint GetSupportedCpuid = Iowr(0x05, 8);

    // VM ioctls
    public static readonly nuint CreateVcpu = Io(0x41);
    public static readonly nuint GetDirtyLog = Iow(0x42, KvmStructSizes.Of<KvmDirtyLog>());
    public static readonly nuint SetUserMemoryRegion = Iow(0x46, KvmStructSizes.Of<KvmUserspaceMemoryRegion>());
    public static readonly nuint SetTssAddr = Io(0x47);
    public static readonly nuint SetIdentityMapAddr = Iow(0x48, 8);
    public static readonly nuint CreateIrqchip = Io(0x60);
    public static readonly nuint IrqLine = Iow(0x61, KvmStructSizes.Of<KvmIrqLevel>());
    public static readonly nuint CreatePit2 = Iow(0x77, KvmStructSizes.Of<KvmPitConfig>());
    public static readonly nuint SignalMsi = Iow(0xA5, KvmStructSizes.Of<KvmMsi>());
    public static readonly nuint GetIrqchip = Iowr(0x62, KvmEngineStateLayout.IrqchipSize);
    public static readonly nuint SetIrqchip = Ior(0x63, KvmEngineStateLayout.IrqchipSize);
    public static readonly nuint GetPit2 = Ior(0x9F, KvmEngineStateLayout.Pit2Size);
    public static readonly nuint SetPit2 = Iow(0xA0, KvmEngineStateLayout.Pit2Size);
    public static readonly nuint SetClock = Iow(0x7B, KvmStructSizes.Of<KvmClockData>());
    public static readonly nuint GetClock = Ior(0x7C, KvmStructSizes.Of<KvmClockData>());

    // vCPU ioctls
    public static readonly nuint Run = Io(0x80);
    public static readonly nuint GetRegs = Ior(0x81, KvmStructSizes.Of<KvmRegs>());
    public static readonly nuint SetRegs = Iow(0x82, KvmStructSizes.Of<KvmRegs>());
    public static readonly nuint GetSregs = Ior(0x83, KvmStructSizes.Of<KvmSregs>());
    public static readonly nuint SetSregs = Iow(0x84, KvmStructSizes.Of<KvmSregs>());
    public static readonly nuint Translate = Iowr(0x85, KvmStructSizes.Of<KvmTranslation>());
    public static readonly nuint GetMsrs = Iowr(0x88, 8);
    public static readonly nuint SetMsrs = Iow(0x89, 8);
    public static readonly nuint GetFpu = Ior(0x8C, KvmStructSizes.Of<KvmFpu>());
    public static readonly nuint SetFpu = Iow(0x8D, KvmStructSizes.Of<KvmFpu>());
    public static readonly nuint GetLapic = Ior(0x8E, KvmStructSizes.Of<KvmLapicState>());
    public static readonly nuint SetLapic = Iow(0x8F, KvmStructSizes.Of<KvmLapicState>());
    public static readonly nuint SetCpuid2 = Iow(0x90, 8);
    public static readonly nuint GetMpState = Ior(0x98, 4);
    public static readonly nuint SetMpState = Iow(0x99, 4);
    public static readonly nuint GetVcpuEvents = Ior(0x9F, KvmStructSizes.Of<KvmVcpuEvents>());
    public static readonly nuint SetVcpuEvents = Iow(0xA0, KvmStructSizes.Of<KvmVcpuEvents>());
    public static readonly nuint GetXsave = Ior(0xA4, KvmStructSizes.Of<KvmXsave>());
    public static readonly nuint SetXsave = Iow(0xA5, KvmStructSizes.Of<KvmXsave>());
    public static readonly nuint GetXcrs = Ior(0xA6, KvmStructSizes.Of<KvmXcrs>());
    public static readonly nuint SetXcrs = Iow(0xA7, KvmStructSizes.Of<KvmXcrs>());
}

/// <summary>KVM_CAP_* numbers this engine asks about.</summary>
public static class KvmCapabilities
{
    public const int Irqchip = 0, Hlt = 1, UserMemory = 3, SetTssAddr = 4, ExtCpuid = 7, Pit2 = 33, NrVcpus = 9,
        MaxVcpus = 66, ImmediateExit = 136, Xsave = 55, Xcrs = 56, VcpuEvents = 41, SignalMsi = 77, SyncMmu = 16;
}
