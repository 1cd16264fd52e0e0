using Sharpvisor.Engines;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.EngineSelection;

namespace Sharpvisor.Vmm.Tests.Lifecycle;

internal static class TestEngines
{
    /// <summary>The named engine; where this host cannot run it, the calling (skippable) test is skipped with the reason.</summary>
    public static IEngine Create(string name)
    {
        HostRequires.Engine(name);
        IEngine engine = new EngineSelector().Create(EngineChoice.Parse(name).Kind ?? throw new ArgumentException(name));
        var availability = engine.CheckAvailability();
        Assert.True(availability.CanRun, availability.Reason);
        return engine;
    }

    /// <summary>Spin iterations between ticks: a tick every few milliseconds on the emulator; on KVM under PVM a spin
    /// iteration was measured at about 4 µs and each tick's serial output at about 70 ms, so few.</summary>
    public static int Spin(string name) => name == "kvm" ? 5_000 : 100_000;
}
