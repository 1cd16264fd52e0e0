using Sharpvisor.Machine.Cpu;
using Sharpvisor.TestGuests;
using Sharpvisor.Vmm.HostCheck;
using Sharpvisor.Vmm.Lifecycle;

namespace Sharpvisor.Engines.Kvm.Tests;

/// <summary>Every test guest, booted through the whole VMM on the KVM engine, must report its own PASS.</summary>
public class TestGuestsOnKvmTests
{
    public static TheoryData<string> GuestNames() => new(TestGuestCatalog.All.Select(g => g.Name));

    [Theory]
    [MemberData(nameof(GuestNames))]
    public void GuestPassesOnKvm(string name)
    {
        var availability = new KvmEngine().CheckAvailability();
        Assert.True(availability.CanRun, availability.Reason);
        var run = TestGuestRunner.Run(new KvmEngine(), TestGuestCatalog.Get(name), TimeSpan.FromSeconds(60));
        Assert.True(run.Passed, $"{run.Result.Outcome}: {run.Result.Message}\nserial:\n{run.SerialOutput}");
    }

    [Fact]
    public void GuestRunsWithSeveralVcpusInATopology()
    {
        // The application processors wait for INIT/SIPI in KVM; the boot processor alone runs the guest.
        var run = TestGuestRunner.Run(new KvmEngine(), TestGuestCatalog.Get("hello"), TimeSpan.FromSeconds(60),
            topology: new CpuTopology(1, 2, 2));
        Assert.True(run.Passed, run.Result.Message);
    }

    [Fact]
    public void GuestThatNeedsTheTestDevicesFailsClearlyWithoutThem()
    {
        // Without the echo device the io-echo guest reads all ones and must say FAIL, not PASS.
        var run = TestGuestRunner.Run(new KvmEngine(), TestGuestCatalog.Get("io-echo"), TimeSpan.FromSeconds(60), testDevices: false);
        Assert.False(run.Passed);
        Assert.DoesNotContain("PASS io-echo", run.SerialOutput);
    }

    [Fact]
    public void StopFromOutsideEndsARunningGuest()
    {
        // memory-writer with seconds=0 runs until stopped; stop it once it has finished two rounds.
        var output = new System.Text.StringBuilder();
        var run = TestGuestRunner.Run(new KvmEngine(), TestGuestCatalog.Get("memory-writer"), TimeSpan.FromSeconds(60),
            commandLine: "seconds=0", onStarted: vm => vm.SerialOutput += b =>
            {
                output.Append((char)b);
                if (output.ToString().Contains("ROUND 2")) vm.Stop("test stop");
            });
        Assert.Equal(VmOutcome.Stopped, run.Result.Outcome);
        Assert.Equal("test stop", run.Result.Message);
        Assert.Contains("ROUND", run.SerialOutput);
    }
}
