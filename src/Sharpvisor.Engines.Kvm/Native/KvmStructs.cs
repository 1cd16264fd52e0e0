using System.Runtime.CompilerServices;
using System.Runtime.InteropServices;

// The kernel's KVM ABI for x86-64 (include/uapi/linux/kvm.h and arch/x86/include/uapi/asm/kvm.h), field for field.
// KvmStructLayoutTests checks every size and the offsets that matter.
namespace Sharpvisor.Engines.Kvm.Native;

[StructLayout(LayoutKind.Sequential)]
public struct KvmRegs
{
    public ulong Rax, Rbx, Rcx, Rdx, Rsi, Rdi, Rsp, Rbp;
    public ulong R8, R9, R10, R11, R12, R13, R14, R15;
    public ulong Rip, Rflags;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmSegment
{
    public ulong Base;
    public uint Limit;
    public ushort Selector;
    public byte Type, Present, Dpl, Db, S, L, G, Avl, Unusable, Padding;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmDtable
{
    public ulong Base;
    public ushort Limit;
    public ushort Padding0, Padding1, Padding2;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmSregs
{
    public KvmSegment Cs, Ds, Es, Fs, Gs, Ss, Tr, Ldt;
    public KvmDtable Gdt, Idt;
    public ulong Cr0, Cr2, Cr3, Cr4, Cr8, Efer, ApicBase;
    public unsafe fixed ulong InterruptBitmap[4];
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmFpu
{
    public unsafe fixed byte Fpr[128];
    public ushort Fcw, Fsw;
    public byte Ftwx, Pad1;
    public ushort LastOpcode;
    public ulong LastIp, LastDp;
    public unsafe fixed byte Xmm[256];
    public uint Mxcsr, Pad2;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmMsrEntry
{
    public uint Index, Reserved;
    public ulong Data;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmCpuidEntry2
{
    public uint Function, Index, Flags, Eax, Ebx, Ecx, Edx, Padding0, Padding1, Padding2;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmUserspaceMemoryRegion
{
    public uint Slot, Flags;
    public ulong GuestPhysAddr, MemorySize, UserspaceAddr;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmDirtyLog
{
    public uint Slot, Padding;
    public nint DirtyBitmap;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmIrqLevel
{
    public uint Irq, Level;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmMsi
{
    public uint AddressLo, AddressHi, Data, Flags, DevId;
    public unsafe fixed byte Pad[12];
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmPitConfig
{
    public uint Flags;
    public unsafe fixed uint Pad[15];
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmLapicState
{
    public unsafe fixed byte Regs[1024];
}

/// <summary>kvm_vcpu_events: pending exceptions, interrupts, NMIs, SIPI, SMM.</summary>
[StructLayout(LayoutKind.Explicit, Size = 64)]
public struct KvmVcpuEvents
{
    [FieldOffset(0)] public byte ExceptionInjected;
    [FieldOffset(1)] public byte ExceptionNr;
    [FieldOffset(2)] public byte ExceptionHasErrorCode;
    [FieldOffset(3)] public byte ExceptionPending;
    [FieldOffset(4)] public uint ExceptionErrorCode;
    [FieldOffset(8)] public byte InterruptInjected;
    [FieldOffset(9)] public byte InterruptNr;
    [FieldOffset(10)] public byte InterruptSoft;
    [FieldOffset(11)] public byte InterruptShadow;
    [FieldOffset(12)] public byte NmiInjected;
    [FieldOffset(13)] public byte NmiPending;
    [FieldOffset(14)] public byte NmiMasked;
    [FieldOffset(16)] public uint SipiVector;
    [FieldOffset(20)] public uint Flags;
    [FieldOffset(24)] public byte SmiSmm;
    [FieldOffset(25)] public byte SmiPending;
    [FieldOffset(26)] public byte SmiInsideNmi;
    [FieldOffset(27)] public byte SmiLatchedInit;

    public const uint ValidNmiPending = 1, ValidSipiVector = 2, ValidShadow = 4, ValidSmm = 8;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmXsave
{
    public unsafe fixed byte Region[4096];
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmXcr
{
    public uint Xcr, Reserved;
    public ulong Value;
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmXcrs
{
    public uint NrXcrs, Flags;
    public KvmXcr Xcr0, Xcr1, Xcr2, Xcr3, Xcr4, Xcr5, Xcr6, Xcr7, Xcr8, Xcr9, Xcr10, Xcr11, Xcr12, Xcr13, Xcr14, Xcr15;
    public unsafe fixed ulong Padding[16];
}

[StructLayout(LayoutKind.Sequential)]
public struct KvmTranslation
{
    public ulong LinearAddress, PhysicalAddress;
    public byte Valid, Writeable, Usermode;
    public unsafe fixed byte Pad[5];
}

/// <summary>
/// Offsets into the shared kvm_run page (struct kvm_run in linux/kvm.h, x86-64): the fixed head, then from
/// <see cref="Union"/> the 256-byte union whose member depends on the exit reason. KvmRunLayoutTests check them.
/// </summary>
public static class KvmRunLayout
{
    public const int ImmediateExit = 1;
    public const int ExitReason = 8;
    public const int Union = 32;
    // io
    public const int IoDirection = Union + 0, IoSize = Union + 1, IoPort = Union + 2, IoCount = Union + 4, IoDataOffset = Union + 8;
    // mmio
    public const int MmioPhysAddr = Union + 0, MmioData = Union + 8, MmioLen = Union + 16, MmioIsWrite = Union + 20;
    // fail_entry
    public const int FailEntryReason = Union + 0, FailEntryCpu = Union + 8;
    // internal
    public const int InternalSuberror = Union + 0, InternalNdata = Union + 4, InternalData = Union + 8;
    // system_event
    public const int SystemEventType = Union + 0;
}

public static class KvmExitReasons
{
    public const uint Unknown = 0, Exception = 1, Io = 2, Hypercall = 3, Debug = 4, Hlt = 5, Mmio = 6,
        IrqWindowOpen = 7, Shutdown = 8, FailEntry = 9, Intr = 10, InternalError = 17, SystemEvent = 24;

    public const uint SystemEventShutdown = 1, SystemEventReset = 2, SystemEventCrash = 3;
    public const uint InternalErrorEmulation = 1, InternalErrorSimultaneousExceptions = 2, InternalErrorDeliveryEvent = 3;
    /// <summary>kvm_run.io.direction.</summary>
    public const byte IoIn = 0, IoOut = 1;

    public static string Name(uint reason) => reason switch
    {
        Unknown => "UNKNOWN", Exception => "EXCEPTION", Io => "IO", Hypercall => "HYPERCALL", Debug => "DEBUG",
        Hlt => "HLT", Mmio => "MMIO", IrqWindowOpen => "IRQ_WINDOW_OPEN", Shutdown => "SHUTDOWN",
        FailEntry => "FAIL_ENTRY", Intr => "INTR", InternalError => "INTERNAL_ERROR", SystemEvent => "SYSTEM_EVENT",
        _ => $"exit reason {reason}",
    };
}

public static class KvmStructSizes
{
    public static int Of<T>() where T : unmanaged => Unsafe.SizeOf<T>();
}

/// <summary>struct kvm_clock_data (KVM_GET_CLOCK / KVM_SET_CLOCK): kvm-clock in nanoseconds; 48 bytes.</summary>
[StructLayout(LayoutKind.Sequential)]
public struct KvmClockData
{
    public ulong Clock;
    public uint Flags;
    public uint Pad0;
    public ulong Realtime;
    public ulong HostTsc;
    public unsafe fixed uint Pad[4];
}
