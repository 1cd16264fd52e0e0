namespace Sharpvisor.Engines.Kvm;

/// <summary>What /proc/cpuinfo says about hardware virtualization on this host.</summary>
public static class HostCpu
{
    /// <summary>True if the host CPU shows vmx (Intel VT-x) or svm (AMD-V).</summary>
    public static bool HasHardwareVirtualization(string cpuinfoPath = "/proc/cpuinfo")
    {
        try
        {
            foreach (var line in File.ReadLines(cpuinfoPath))
            {
                if (!line.StartsWith("flags", StringComparison.Ordinal)) continue;
                var flags = line[(line.IndexOf(':') + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return flags.Contains("vmx") || flags.Contains("svm");
            }
        }
        catch (IOException) { }
        catch (UnauthorizedAccessException) { }
        return false;
    }
}
