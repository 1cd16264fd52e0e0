using Sharpvisor.Vmm.Lifecycle;

namespace Sharpvisor.Vmm.HostCheck;

/// <summary>What happened when one test guest ran: its verdict, the VM's outcome, the serial text and the time.</summary>
public sealed record TestGuestRun(string Guest, bool Passed, VmRunResult Result, string SerialOutput)
{
    /// <summary>The guest's own PASS or FAIL line, or the VM's message when the guest never said.</summary>
    public string Detail
    {
        get
        {
            var verdict = SerialOutput.Split('\n').Select(l => l.Trim())
                .LastOrDefault(l => l.StartsWith("PASS ") || l.StartsWith("FAIL "));
            return verdict ?? Result.Message.Split('\n')[0];
        }
    }
}
