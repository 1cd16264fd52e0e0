using Sharpvisor.Machine.Cpu;
using Sharpvisor.TestGuests;
using Sharpvisor.Vmm.HostCheck;
using Sharpvisor.Vmm.Lifecycle;

namespace Sharpvisor.Engines.Kvm.Tests;

/// <summary>Every test guest, booted through the whole VMM on the KVM engine, must report its own PASS.</summary>
public class TestGuestsOnKvmTests
{
    public static TheoryData<string> GuestNames() => new(TestGuestCatalog.All.Select(g => g.Name));

    [SkippableTheory]
    [MemberData(nameof(GuestNames))]
    public void GuestPassesOnKvm(string name)
    {
        HostRequires.Kvm();
        var run = TestGuestRunner.Run(new KvmEngine(), TestGuestCatalog.Get(name), TimeSpan.FromSeconds(60));
        Assert.True(run.Passed, $"{run.Result.Outcome}: {run.Result.Message}\nserial:\n{run.SerialOutput}");
    }

    [SkippableFact]
    public void GuestRunsWithSeveralVcpusInATopology()
    {
        HostRequires.Kvm();
        // The application processors wait for INIT/SIPI in KVM; the boot processor alone runs the guest.
        var run = TestGuestRunner.Run(new KvmEngine(), TestGuestCatalog.Get("hello"), TimeSpan.FromSeconds(60),
            topology: new CpuTopology(1, 2, 2));
        Assert.True(run.Passed, run.Result.Message);
    }

    [SkippableFact]
    public void GuestThatNeedsTheTestDevicesFailsClearlyWithoutThem()
    {
        HostRequires.Kvm();
        // Without the echo device the io-echo guest reads all ones and must say FAIL, not PASS.
        var run = TestGuestRunner.Run(new KvmEngine(), TestGuestCatalog.Get("io-echo"), TimeSpan.FromSeconds(60), testDevices: false);
        Assert.False(run.Passed);
        Assert.Contains("FAIL io-echo", run.SerialOutput);   // the guest ran and said why, not a VM that could not start
        Assert.DoesNotContain("PASS io-echo", run.SerialOutput);
    }

    [SkippableFact]
    public void SerialInputReachesTheGuest()
    {
        HostRequires.Kvm();
        // The runner types "sharpvisor\n" before boot; the UART holds it until the guest polls it out of RBR.
        var run = TestGuestRunner.Run(new KvmEngine(), TestGuestCatalog.Get("serial-echo"), TimeSpan.FromSeconds(60));
        Assert.True(run.Passed, $"{run.Result.Outcome}: {run.Result.Message}\nserial:\n{run.SerialOutput}");
        var lines = run.SerialOutput.Split('\n').Select(l => l.Trim()).ToList();
        Assert.Equal(["serial-echo: ready", "ECHO sharpvisor", "PASS serial-echo"], lines.Where(l => l != ""));
    }

    [SkippableFact]
    public void SerialEchoFailsOnOtherInput()
    {
        HostRequires.Kvm();
        var run = TestGuestRunner.Run(new KvmEngine(), TestGuestCatalog.Get("serial-echo"), TimeSpan.FromSeconds(60),
            serialInput: "qemu\n");
        Assert.False(run.Passed);
        Assert.Equal(VmOutcome.GuestReportedFailure, run.Result.Outcome);
        Assert.Equal(1, run.Result.DebugExitStatus);
        Assert.Contains("ECHO qemu\n", run.SerialOutput);
        Assert.Contains("FAIL serial-echo: read the line 'qemu', expected 'sharpvisor'", run.SerialOutput);
    }

    [SkippableFact]
    public void SerialEchoGivesUpWhenNoInputComes()
    {
        HostRequires.Kvm();
        // Empty input: the guest polls LSR until its TSC budget (here about 0.1-0.3 s) runs out, then says FAIL.
        var run = TestGuestRunner.Run(new KvmEngine(), TestGuestCatalog.Get("serial-echo"), TimeSpan.FromSeconds(60),
            new TestGuestOptions { SerialEchoWaitCycles = 300_000_000 }, serialInput: "");
        Assert.Equal(VmOutcome.GuestReportedFailure, run.Result.Outcome);
        Assert.Contains("FAIL serial-echo: no line feed on COM1 within 300000000 tsc cycles; 0 bytes read before", run.SerialOutput);
    }

    [SkippableFact]
    public void StopFromOutsideEndsARunningGuest()
    {
        HostRequires.Kvm();
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
