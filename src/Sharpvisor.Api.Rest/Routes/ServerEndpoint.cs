using Sharpvisor.Api.Rest.Security;
using Sharpvisor.Host.Supervision;

namespace Sharpvisor.Api.Rest.Routes;

/// <summary>/1.0: what this daemon is, and the fingerprint of its TLS certificate (for a client that will pin it).</summary>
internal static class ServerEndpoint
{
    public static IResult Get(InstanceManager manager, ApiCredentials credentials) =>
        ApiResponses.Sync(new
        {
            ApiVersion = "1.0",
            Server = "sharpvisor",
            HostName = manager.Options.HostName,
            CertificateFingerprint = credentials.Fingerprint,
            StateDirectory = manager.Options.Paths.StateDirectory,
            DiskRoots = manager.DiskPolicy is Host.Instances.DiskRoots roots ? roots.Roots : [],
        });
}
