using Sharpvisor.Machine.Devices.Virtio;

namespace Sharpvisor.Host.Instances;

/// <summary>
/// A VM's NIC on one of the daemon's networks (by name). The daemon makes its tap and joins it to the network's
/// bridge; <see cref="Mac"/> is chosen once, when the VM is defined (52:54:00 and three random bytes, unique among the
/// daemon's VMs), and kept in the definition, so the guest keeps its address across restarts.
/// </summary>
public sealed record NetworkNic(string Network, string Mac)
{
    public const string MacPrefix = "52:54:00";

    /// <summary>Null when the NIC is well formed; otherwise why not.</summary>
    public string? Problem()
    {
        if (InstanceDefinition.NameProblem(Network) is { } name) return name.Replace("name '", "network name '", StringComparison.Ordinal);
        if (!VirtioNet.TryParseMac(Mac, out var bytes)) return $"'{Mac}' is not a MAC address (six hex bytes like 52:54:00:12:34:56)";
        if ((bytes[0] & 1) != 0) return $"{Mac} is a multicast address; a NIC needs a unicast one (even first byte)";
        return bytes.All(b => b == 0) ? "00:00:00:00:00:00 is not a usable MAC address" : null;
    }

    public static string RandomMac() =>
        VirtioNet.FormatMac([0x52, 0x54, 0x00, .. System.Security.Cryptography.RandomNumberGenerator.GetBytes(3)]);
}
