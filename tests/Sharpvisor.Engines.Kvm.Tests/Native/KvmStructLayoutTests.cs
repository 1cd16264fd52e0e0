using System.Runtime.CompilerServices;
using Sharpvisor.Engines.Kvm.Native;

namespace Sharpvisor.Engines.Kvm.Tests.Native;

// Sizes from the kernel's uapi headers (linux/kvm.h, asm/kvm.h for x86-64).
public class KvmStructLayoutTests
{
    [Fact]
    public void StructSizesMatchTheKernelAbi()
    {
        Assert.Equal(144, Unsafe.SizeOf<KvmRegs>());
        Assert.Equal(24, Unsafe.SizeOf<KvmSegment>());
        Assert.Equal(16, Unsafe.SizeOf<KvmDtable>());
        Assert.Equal(312, Unsafe.SizeOf<KvmSregs>());
        Assert.Equal(416, Unsafe.SizeOf<KvmFpu>());
        Assert.Equal(16, Unsafe.SizeOf<KvmMsrEntry>());
        Assert.Equal(40, Unsafe.SizeOf<KvmCpuidEntry2>());
        Assert.Equal(32, Unsafe.SizeOf<KvmUserspaceMemoryRegion>());
        Assert.Equal(16, Unsafe.SizeOf<KvmDirtyLog>());
        Assert.Equal(8, Unsafe.SizeOf<KvmIrqLevel>());
        Assert.Equal(32, Unsafe.SizeOf<KvmMsi>());
        Assert.Equal(64, Unsafe.SizeOf<KvmPitConfig>());
        Assert.Equal(1024, Unsafe.SizeOf<KvmLapicState>());
        Assert.Equal(64, Unsafe.SizeOf<KvmVcpuEvents>());
        Assert.Equal(4096, Unsafe.SizeOf<KvmXsave>());
        Assert.Equal(392, Unsafe.SizeOf<KvmXcrs>());
        Assert.Equal(24, Unsafe.SizeOf<KvmTranslation>());
    }

    [Fact]
    public void IoctlNumbersMatchTheKernelHeaders()
    {
        // Values as the C macros expand them on x86-64.
        Assert.Equal((nuint)0xAE80, KvmIoctls.Run);
        Assert.Equal((nuint)0x8090AE81, KvmIoctls.GetRegs);
        Assert.Equal((nuint)0x4090AE82, KvmIoctls.SetRegs);
        Assert.Equal((nuint)0x8138AE83, KvmIoctls.GetSregs);
        Assert.Equal((nuint)0x4020AE46, KvmIoctls.SetUserMemoryRegion);
        Assert.Equal((nuint)0xC008AE05, KvmIoctls.GetSupportedCpuid);
        Assert.Equal((nuint)0x4008AE90, KvmIoctls.SetCpuid2);
        Assert.Equal((nuint)0x9000AEA4, KvmIoctls.GetXsave);
        Assert.Equal((nuint)0x8400AE8E, KvmIoctls.GetLapic);
        Assert.Equal((nuint)0x4010AE42, KvmIoctls.GetDirtyLog);
    }

    [Fact]
    public void VcpuEventsFieldOffsetsMatch()
    {
        var e = new KvmVcpuEvents { SipiVector = 0x11223344, Flags = 0x55667788 };
        var bytes = new byte[64];
        Unsafe.WriteUnaligned(ref bytes[0], e);
        Assert.Equal(0x11223344u, BitConverter.ToUInt32(bytes, 16));
        Assert.Equal(0x55667788u, BitConverter.ToUInt32(bytes, 20));
    }
}
