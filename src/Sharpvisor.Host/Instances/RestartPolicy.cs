namespace Sharpvisor.Host.Instances;

/// <summary>What the daemon does when a VM's VMM ends without being asked to (Docker's and Incus's names).</summary>
public enum RestartPolicy
{
    /// <summary>Leave it stopped or crashed.</summary>
    No,
    /// <summary>Start it again when it crashed (the VMM failed, was killed, or the guest crashed), not when the guest powered off.</summary>
    OnFailure,
    /// <summary>Start it again whenever it ends, unless a user stopped it.</summary>
    Always,
}

public static class RestartPolicyNames
{
    public static string Format(RestartPolicy policy) => policy switch
    {
        RestartPolicy.No => "no",
        RestartPolicy.OnFailure => "on-failure",
        _ => "always",
    };

    public static RestartPolicy Parse(string text) => text switch
    {
        "no" => RestartPolicy.No,
        "on-failure" => RestartPolicy.OnFailure,
        "always" => RestartPolicy.Always,
        _ => throw new FormatException($"restart_policy '{text}' is not no, on-failure or always"),
    };
}
