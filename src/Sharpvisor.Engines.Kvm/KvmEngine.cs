using Sharpvisor.Engines.Kvm.Native;
using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Memory;
using Sharpvisor.Machine.Native;

namespace Sharpvisor.Engines.Kvm;

/// <summary>The hardware-assisted engine: guests run through the host kernel's KVM, reached with ioctls on /dev/kvm.</summary>
public sealed class KvmEngine(string? devicePath = null) : IEngine
{
    public const int ExpectedApiVersion = 12;

    /// <summary>Names another device instead of /dev/kvm; a path that does not exist makes a host with KVM behave as
    /// one without it, so the no-KVM path (engine choice, skipped tests) can be checked on any host.</summary>
    public const string DeviceVariable = "SHARPVISOR_KVM_DEVICE";

    public EngineKind Kind => EngineKind.Kvm;
    public string DevicePath { get; } = devicePath ?? DefaultDevicePath;

    public static string DefaultDevicePath =>
        Environment.GetEnvironmentVariable(DeviceVariable) is { Length: > 0 } path ? path : "/dev/kvm";

    public EngineAvailability CheckAvailability()
    {
        try
        {
            using var kvm = KvmCalls.OpenDevice(DevicePath);
            int version = Libc.ioctl(kvm.Fd, KvmIoctls.GetApiVersion, 0);
            if (version != ExpectedApiVersion)
                return new(Kind, false, false, $"{DevicePath} speaks KVM API version {version}, not {ExpectedApiVersion}");
            foreach (var (cap, name) in new[] { (KvmCapabilities.Irqchip, "IRQCHIP"), (KvmCapabilities.UserMemory, "USER_MEMORY"), (KvmCapabilities.ImmediateExit, "IMMEDIATE_EXIT"), (KvmCapabilities.ExtCpuid, "EXT_CPUID") })
                if (KvmCalls.CheckExtension(kvm, cap) == 0)
                    return new(Kind, false, false, $"KVM lacks the {name} capability this engine needs");
            if (!HostCpu.HasHardwareVirtualization())
                return new(Kind, true, false,
                    "KVM works, but the CPU has no VT-x or AMD-V (no vmx/svm flag): guest ring 0 is emulated by the host kernel, so small test guests run but an unmodified Linux kernel does not");
            return new(Kind, true, true, "KVM with hardware virtualization");
        }
        catch (EngineException e)
        {
            return new(Kind, false, false, e.Message);
        }
    }

    public IVirtualMachine CreateVirtualMachine(GuestMemory memory, PortIoBus ports, MmioBus mmio) =>
        new KvmVirtualMachine(KvmCalls.OpenDevice(DevicePath), memory, ports, mmio);
}
