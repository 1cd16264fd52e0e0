using Sharpvisor.Engines;
using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Memory;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.EngineSelection;

namespace Sharpvisor.Vmm.Tests.Configuration;

/// <summary>The choice of engine over the catalog's order, with engines that say what they can do.</summary>
public sealed class EngineSelectorTests
{
    private sealed class FakeEngine(EngineKind kind, bool canRun, bool canRunLinux, string reason) : IEngine
    {
        public EngineKind Kind => kind;
        public EngineAvailability CheckAvailability() => new(kind, canRun, canRunLinux, reason);
        public IVirtualMachine CreateVirtualMachine(GuestMemory memory, PortIoBus ports, MmioBus mmio) => throw new NotSupportedException();
    }

    private static EngineSelector Selector(bool kvmRuns, bool kvmRunsLinux) => new(
    [
        () => new FakeEngine(EngineKind.Kvm, kvmRuns, kvmRunsLinux, kvmRuns ? "kvm here" : "/dev/kvm does not exist"),
        () => new FakeEngine(EngineKind.Emulator, true, true, "always"),
    ]);

    [Theory]
    [InlineData(true, true, true, "engine auto chose kvm: kvm here")]
    [InlineData(true, false, true, "engine auto chose the emulator because kvm here")]   // PVM: no Linux on KVM
    [InlineData(true, false, false, "engine auto chose kvm: kvm here")]                  // PVM runs our test guests
    [InlineData(false, false, false, "engine auto chose the emulator because /dev/kvm does not exist")]
    public void Auto_takes_the_first_engine_in_the_catalog_that_can_run_the_guest(bool kvmRuns, bool kvmRunsLinux, bool linux, string expected)
    {
        var selection = Selector(kvmRuns, kvmRunsLinux).Select(EngineChoice.Auto, linux);
        Assert.Equal(expected, selection.Explanation);
        Assert.Equal(expected.Contains("kvm:") ? EngineKind.Kvm : EngineKind.Emulator, selection.Engine!.Kind);
    }

    [Fact]
    public void A_named_engine_that_cannot_serve_is_refused_with_its_reason()
    {
        var selection = Selector(kvmRuns: false, kvmRunsLinux: false).Select(EngineChoice.Parse("KVM"), guestIsLinux: false);
        Assert.Null(selection.Engine);
        Assert.Equal("engine kvm cannot run here: /dev/kvm does not exist", selection.Explanation);
        var linux = Selector(kvmRuns: true, kvmRunsLinux: false).Select(EngineChoice.Parse("kvm"), guestIsLinux: true);
        Assert.Null(linux.Engine);
        Assert.StartsWith("engine kvm cannot run a Linux guest here", linux.Explanation);
    }

    [Fact]
    public void The_choice_names_are_auto_and_every_engine_kind()
    {
        Assert.Equal(["auto", "kvm", "emulator"], EngineCatalog.ChoiceNames);
        Assert.Equal(EngineCatalog.All.Count, Enum.GetValues<EngineKind>().Length);
        Assert.Equal(EngineKind.Emulator, EngineChoice.Parse("Emulator").Kind);
        Assert.Contains("unknown engine 'quantum' (auto, kvm, emulator)", Assert.Throws<ArgumentException>(() => EngineChoice.Parse("quantum")).Message);
    }
}
