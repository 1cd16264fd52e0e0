namespace Sharpvisor.Vmm.Networking.Mmds;

/// <summary>
/// Answers one HTTP request a guest sent to the metadata address (Firecracker's MMDS): the whole request in, the whole
/// response (status line, headers, body) out. Called on a network device's transmit thread; never throws for what the
/// guest sent.
/// </summary>
public interface IMetadataResponder
{
    byte[] Respond(ReadOnlySpan<byte> request);
}
