using System.Net;
using Sharpvisor.Engines;
using Sharpvisor.Vmm.Migration;

namespace Sharpvisor.Vmm.Tests.Migration;

/// <summary>A destination waiting for its source builds and discards a small machine on the likely engine.</summary>
public sealed class DestinationWarmUpTests
{
    public static TheoryData<string> Engines() => ["emulator", "kvm"];

    [SkippableTheory]
    [MemberData(nameof(Engines))]
    public void The_warm_up_builds_a_machine_and_completes(string engineName)
    {
        IEngine engine = Sharpvisor.Vmm.Tests.Lifecycle.TestEngines.Create(engineName);
        using var incoming = IncomingMigration.Listen(new IPEndPoint(IPAddress.Loopback, 0));
        var warmUp = incoming.WarmUp(engine);
        Assert.True(warmUp.Wait(TimeSpan.FromSeconds(60)), "the warm-up did not finish within 60 s");
        Assert.Equal(TaskStatus.RanToCompletion, warmUp.Status);
    }
}
