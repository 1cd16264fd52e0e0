namespace Sharpvisor.Vmm.Images;

/// <summary>How a host tool run by <see cref="ExternalProcess"/> ended.</summary>
internal sealed record ExternalProcessResult(string Command, int ExitCode, string StandardOutput, string StandardError)
{
    public bool Succeeded => ExitCode == 0;

    public string Describe() =>
        $"'{Command}' exited with {ExitCode}: {(StandardError.Trim().Length > 0 ? StandardError.Trim() : StandardOutput.Trim())}";
}
