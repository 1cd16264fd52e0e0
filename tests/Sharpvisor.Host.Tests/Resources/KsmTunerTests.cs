using Sharpvisor.Host.Resources;

namespace Sharpvisor.Host.Tests.Resources;

/// <summary>The tuner against a folder laid out as /sys/kernel/mm/ksm is (the real one is the daemon test's).</summary>
public sealed class KsmTunerTests : IDisposable
{
    private readonly DirectoryInfo _folder = Directory.CreateTempSubdirectory("sv-ksm-");
    private string Sysfs => Path.Combine(_folder.FullName, "ksm");
    private string Saved => Path.Combine(_folder.FullName, "ksm-found");

    public KsmTunerTests()
    {
        Directory.CreateDirectory(Sysfs);
        Set("run", 0); Set("pages_to_scan", 100); Set("sleep_millisecs", 200); Set("pages_sharing", 0);
    }

    public void Dispose() => _folder.Delete(recursive: true);

    private void Set(string key, long value) => File.WriteAllText(Path.Combine(Sysfs, key), $"{value}\n");
    private long Get(string key) => long.Parse(File.ReadAllText(Path.Combine(Sysfs, key)));

    [Fact]
    public void Nothing_is_touched_while_no_VM_asks()
    {
        var tuner = new KsmTuner(Sysfs, Saved);
        Assert.Null(tuner.Step(wanted: false));
        Assert.Equal((0L, 100L, 200L), (Get("run"), Get("pages_to_scan"), Get("sleep_millisecs")));
        Assert.False(File.Exists(Saved));
    }

    [Fact]
    public void It_switches_KSM_on_scans_more_while_merging_pays_less_when_not_and_puts_it_back()
    {
        var tuner = new KsmTuner(Sysfs, Saved);
        Assert.StartsWith("KSM on", tuner.Step(wanted: true));
        Assert.Equal((1L, (long)KsmTuner.MinPagesToScan), (Get("run"), Get("pages_to_scan")));
        Assert.True(tuner.Engaged);

        Set("pages_sharing", 5000);                          // merging pays: +300 a step, up to 1250
        for (int i = 0; i < 5; i++) { tuner.Step(wanted: true); Set("pages_sharing", 5000 + 1000 * (i + 1)); }
        Assert.Equal(KsmTuner.MaxPagesToScan, tuner.PagesToScan);
        tuner.Step(wanted: true);                            // the last growth seen; now it stops paying
        tuner.Step(wanted: true);
        Assert.Equal(KsmTuner.MaxPagesToScan - KsmTuner.Decay, tuner.PagesToScan);

        Assert.StartsWith("KSM put back", tuner.Step(wanted: false));
        Assert.Equal((0L, 100L, 200L), (Get("run"), Get("pages_to_scan"), Get("sleep_millisecs")));
        Assert.False(File.Exists(Saved));
    }

    [Fact]
    public void A_new_tuner_after_a_killed_daemon_puts_back_what_the_first_one_found()
    {
        new KsmTuner(Sysfs, Saved).Step(wanted: true);
        Set("pages_to_scan", 700);
        var next = new KsmTuner(Sysfs, Saved);
        Assert.True(next.Engaged);
        next.Step(wanted: false);
        Assert.Equal((0L, 100L, 200L), (Get("run"), Get("pages_to_scan"), Get("sleep_millisecs")));
    }
}
