using System.Net;
using System.Net.Sockets;

namespace Sharpvisor.Vmm.Networking.Mmds;

/// <summary>
/// Which network interfaces (by tap) answer the metadata address themselves, and with what: the VMM's own small
/// ARP/IPv4/TCP responder (<see cref="MetadataNetBackend"/>) in front of <see cref="Responder"/>. Packets to that
/// address never reach the tap.
/// </summary>
public sealed class MetadataService(IPAddress address, IReadOnlyCollection<string> taps, IMetadataResponder responder)
{
    /// <summary>Firecracker's default, the address EC2's metadata service has too.</summary>
    public static readonly IPAddress DefaultAddress = IPAddress.Parse("169.254.169.254");

    public IPAddress Address { get; } = address.AddressFamily == AddressFamily.InterNetwork
        ? address : throw new ArgumentException("the metadata address is an IPv4 address", nameof(address));
    public IMetadataResponder Responder { get; } = responder;

    public bool Serves(string tap) => taps.Contains(tap);
}
