using Sharpvisor.Engines;
using Sharpvisor.TestGuests;
using Sharpvisor.Vmm.EngineSelection;

namespace Sharpvisor.Vmm.HostCheck;

/// <summary>
/// In the spirit of virt-host-validate: runs every test guest on every engine this host can serve, and says why an
/// engine cannot serve where it cannot.
/// </summary>
public static class HostChecker
{
    public static HostCheckReport Run(TimeSpan perGuestTimeout, Action<HostCheckResult>? onResult = null)
    {
        var selector = new EngineSelector();
        var engines = selector.Probe();
        var results = new List<HostCheckResult>();
        foreach (var availability in engines.Where(a => a.CanRun))
        {
            IEngine engine = selector.Create(availability.Kind);
            foreach (var guest in TestGuestCatalog.All)
            {
                var run = TestGuestRunner.Run(engine, guest, perGuestTimeout);
                var result = new HostCheckResult(availability.Kind, guest.Name, run.Passed, run.Result.Elapsed.TotalSeconds, run.Detail);
                results.Add(result);
                onResult?.Invoke(result);
            }
        }
        return new HostCheckReport(engines, results);
    }
}
