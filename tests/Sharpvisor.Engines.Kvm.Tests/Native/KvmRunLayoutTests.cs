using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;
using Sharpvisor.Engines.Kvm.Native;

namespace Sharpvisor.Engines.Kvm.Tests.Native;

/// <summary>
/// The kvm_run offsets and exit numbers the KVM engine reads, against struct kvm_run as linux/kvm.h declares it
/// on x86-64 (checked with linux-libc-dev 6.1). Each offset is checked twice: against the number worked out by
/// hand from the header, and against a field-by-field transcription of the header below, laid out by the runtime
/// with C's rules, so a slip in either the constant or the arithmetic shows. No /dev/kvm needed.
/// </summary>
public class KvmRunLayoutTests
{
    private static int Offset<T>(string field) => (int)Marshal.OffsetOf<T>(field);
    private static int InUnion<T>(string field) => Offset<KvmRunHead>(nameof(KvmRunHead.Union)) + Offset<T>(field);

    /// <summary>Each offset the engine reads: its name, our constant, the header's number by hand, the transcription's.</summary>
    public static TheoryData<string, int, int, int> Offsets => new()
    {
        { "immediate_exit", KvmRunLayout.ImmediateExit, 1, Offset<KvmRunHead>(nameof(KvmRunHead.ImmediateExit)) },
        { "exit_reason", KvmRunLayout.ExitReason, 8, Offset<KvmRunHead>(nameof(KvmRunHead.ExitReason)) },
        { "the union", KvmRunLayout.Union, 32, Offset<KvmRunHead>(nameof(KvmRunHead.Union)) },
        { "io.direction", KvmRunLayout.IoDirection, 32, InUnion<KvmRunIo>(nameof(KvmRunIo.Direction)) },
        { "io.size", KvmRunLayout.IoSize, 33, InUnion<KvmRunIo>(nameof(KvmRunIo.Size)) },
        { "io.port", KvmRunLayout.IoPort, 34, InUnion<KvmRunIo>(nameof(KvmRunIo.Port)) },
        { "io.count", KvmRunLayout.IoCount, 36, InUnion<KvmRunIo>(nameof(KvmRunIo.Count)) },
        { "io.data_offset", KvmRunLayout.IoDataOffset, 40, InUnion<KvmRunIo>(nameof(KvmRunIo.DataOffset)) },
        { "mmio.phys_addr", KvmRunLayout.MmioPhysAddr, 32, InUnion<KvmRunMmio>(nameof(KvmRunMmio.PhysAddr)) },
        { "mmio.data", KvmRunLayout.MmioData, 40, InUnion<KvmRunMmio>(nameof(KvmRunMmio.Data)) },
        { "mmio.len", KvmRunLayout.MmioLen, 48, InUnion<KvmRunMmio>(nameof(KvmRunMmio.Len)) },
        { "mmio.is_write", KvmRunLayout.MmioIsWrite, 52, InUnion<KvmRunMmio>(nameof(KvmRunMmio.IsWrite)) },
        { "fail_entry.hardware_entry_failure_reason", KvmRunLayout.FailEntryReason, 32,
            InUnion<KvmRunFailEntry>(nameof(KvmRunFailEntry.HardwareEntryFailureReason)) },
        { "fail_entry.cpu", KvmRunLayout.FailEntryCpu, 40, InUnion<KvmRunFailEntry>(nameof(KvmRunFailEntry.Cpu)) },
        { "internal.suberror", KvmRunLayout.InternalSuberror, 32, InUnion<KvmRunInternal>(nameof(KvmRunInternal.Suberror)) },
        { "internal.ndata", KvmRunLayout.InternalNdata, 36, InUnion<KvmRunInternal>(nameof(KvmRunInternal.Ndata)) },
        { "internal.data", KvmRunLayout.InternalData, 40, InUnion<KvmRunInternal>(nameof(KvmRunInternal.Data)) },
        { "system_event.type", KvmRunLayout.SystemEventType, 32, InUnion<KvmRunSystemEvent>(nameof(KvmRunSystemEvent.Type)) },
    };

    [Theory]
    [MemberData(nameof(Offsets))]
    public void OffsetMatchesTheKernelHeader(string field, int ours, int byHand, int transcribed)
    {
        Assert.True(byHand == ours, $"kvm_run.{field}: ours {ours}, the header's {byHand}");
        Assert.True(transcribed == ours, $"kvm_run.{field}: ours {ours}, the transcribed header's {transcribed}");
    }

    [Fact]
    public void ExitSubtypesAreTheKernels()
    {
        Assert.Equal((0, 1), (KvmExitReasons.IoIn, KvmExitReasons.IoOut)); // KVM_EXIT_IO_IN, KVM_EXIT_IO_OUT
        // KVM_INTERNAL_ERROR_EMULATION, _SIMUL_EX, _DELIVERY_EV
        Assert.Equal([1u, 2u, 3u], [KvmExitReasons.InternalErrorEmulation, KvmExitReasons.InternalErrorSimultaneousExceptions,
            KvmExitReasons.InternalErrorDeliveryEvent]);
        // KVM_SYSTEM_EVENT_SHUTDOWN, _RESET, _CRASH
        Assert.Equal([1u, 2u, 3u], [KvmExitReasons.SystemEventShutdown, KvmExitReasons.SystemEventReset, KvmExitReasons.SystemEventCrash]);
    }

    [Fact]
    public void ExitReasonNumbersAreTheKernels()
    {
        // KVM_EXIT_* in linux/kvm.h
        Assert.Equal(2u, KvmExitReasons.Io);
        Assert.Equal(5u, KvmExitReasons.Hlt);
        Assert.Equal(6u, KvmExitReasons.Mmio);
        Assert.Equal(7u, KvmExitReasons.IrqWindowOpen);
        Assert.Equal(8u, KvmExitReasons.Shutdown);
        Assert.Equal(9u, KvmExitReasons.FailEntry);
        Assert.Equal(10u, KvmExitReasons.Intr);
        Assert.Equal(17u, KvmExitReasons.InternalError);
        Assert.Equal(24u, KvmExitReasons.SystemEvent);
    }

    [Fact]
    public void EveryFieldReadLiesInsideTheUnion()
    {
        // The union is 256 bytes (its char padding[256]); the furthest field read is internal.data[16].
        int unionEnd = KvmRunLayout.Union + 256;
        Assert.True(KvmRunLayout.InternalData + 16 * sizeof(ulong) <= unionEnd);
        Assert.True(KvmRunLayout.MmioIsWrite < unionEnd && KvmRunLayout.IoDataOffset + sizeof(ulong) <= unionEnd);
        Assert.Equal(256, Unsafe.SizeOf<KvmRunUnionPadding>());
    }

    // struct kvm_run, from linux/kvm.h (x86-64: no s390 fields), up to its union.
    [StructLayout(LayoutKind.Sequential)]
    private struct KvmRunHead
    {
        public byte RequestInterruptWindow, ImmediateExit;
        public Bytes6 Padding1;
        public uint ExitReason;
        public byte ReadyForInterruptInjection, IfFlag;
        public ushort Flags;
        public ulong Cr8, ApicBase;
        public KvmRunUnionPadding Union;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct KvmRunIo
    {
        public byte Direction, Size;
        public ushort Port;
        public uint Count;
        public ulong DataOffset;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct KvmRunMmio
    {
        public ulong PhysAddr;
        public Bytes8 Data;
        public uint Len;
        public byte IsWrite;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct KvmRunFailEntry
    {
        public ulong HardwareEntryFailureReason;
        public uint Cpu;
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct KvmRunInternal
    {
        public uint Suberror, Ndata;
        public ulong Data; // data[16] starts here
    }

    [StructLayout(LayoutKind.Sequential)]
    private struct KvmRunSystemEvent
    {
        public uint Type, Ndata;
        public ulong Flags;
    }

    [InlineArray(6)] private struct Bytes6 { private byte _first; }
    [InlineArray(8)] private struct Bytes8 { private byte _first; }
    [InlineArray(256)] private struct KvmRunUnionPadding { private byte _first; }
}
