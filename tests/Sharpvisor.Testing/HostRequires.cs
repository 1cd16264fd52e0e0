using Sharpvisor.Engines.Kvm;
using Xunit;

namespace Sharpvisor.Testing;

/// <summary>
/// What a test needs from the host, one helper per prerequisite. Called first in a <c>[SkippableFact]</c> or
/// <c>[SkippableTheory]</c>: where the host lacks it the test is reported as skipped with the reason, never red and
/// never silently green. <c>./sharpvisor test</c> installs the Debian packages named here, so on a machine set up by
/// it only KVM can be missing.
/// </summary>
public static class HostRequires
{
    private static readonly Lazy<Engines.EngineAvailability> KvmAvailability = new(() => new KvmEngine().CheckAvailability());

    /// <summary>Why KVM cannot run guests here (null where it can): no device, no permission, a missing capability.</summary>
    public static string? WhyNoKvm() =>
        KvmAvailability.Value.CanRun ? null : $"needs KVM: {KvmAvailability.Value.Reason}";

    /// <summary>Why KVM cannot run an unmodified Linux here (null where it can): no KVM, or KVM without VT-x/AMD-V.</summary>
    public static string? WhyNoLinuxOnKvm() =>
        WhyNoKvm() ?? (KvmAvailability.Value.CanRunLinux ? null : "needs VT-x or AMD-V: Linux cannot run on this KVM (" + KvmAvailability.Value.Reason + ")");

    /// <summary>The KVM engine can run guests here (our test guests; Linux needs <see cref="LinuxOnKvm"/>).</summary>
    public static void Kvm() => Skip.If(WhyNoKvm() is not null, WhyNoKvm());

    /// <summary>The KVM engine can boot an unmodified Linux kernel: KVM with hardware virtualization underneath.</summary>
    public static void LinuxOnKvm() => Skip.If(WhyNoLinuxOnKvm() is not null, WhyNoLinuxOnKvm());

    /// <summary>KVM without VT-x/AMD-V underneath (PVM): for what only that KVM does, such as stopping on ring-0 code.</summary>
    public static void KvmWithoutHardwareVirtualization()
    {
        Kvm();
        Skip.If(KvmAvailability.Value.CanRunLinux,
            "checks KVM without VT-x/AMD-V (PVM); this KVM has hardware virtualization, where guests behave as on QEMU");
    }

    /// <summary>The named engine ("kvm" or "emulator") can run test guests here; the emulator always can.</summary>
    public static void Engine(string name)
    {
        if (name == "kvm") Kvm();
        else if (name != "emulator") throw new ArgumentException($"unknown engine '{name}'", nameof(name));
    }

    /// <summary>A host command, from the named Debian package, is on PATH.</summary>
    public static void Tool(string command, string debianPackage) =>
        Skip.If(FindOnPath(command) is null,
            $"needs {command} (Debian package {debianPackage}; ./sharpvisor test installs it)");

    public static string? FindOnPath(string command)
    {
        foreach (string dir in (Environment.GetEnvironmentVariable("PATH") ?? "/usr/bin:/bin").Split(':')
                     .Concat(["/usr/sbin", "/sbin"]))
        {
            string candidate = Path.Combine(dir, command);
            if (dir.Length > 0 && File.Exists(candidate)) return candidate;
        }
        return null;
    }
}
