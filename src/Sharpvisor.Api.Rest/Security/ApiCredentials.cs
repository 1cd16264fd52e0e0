using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace Sharpvisor.Api.Rest.Security;

/// <summary>
/// What the TCP listener needs, made at the daemon's first start and kept in its state directory (mode 0600): a bearer
/// token every TCP request must carry, and a self-signed TLS certificate whose SHA-256 fingerprint clients pin.
/// </summary>
public sealed class ApiCredentials
{
    private ApiCredentials(string token, X509Certificate2 certificate)
    {
        Token = token;
        Certificate = certificate;
    }

    public string Token { get; }
    public X509Certificate2 Certificate { get; }
    /// <summary>SHA-256 of the certificate, lower-case hex: what a client compares against (as Incus prints it).</summary>
    public string Fingerprint => Convert.ToHexStringLower(SHA256.HashData(Certificate.RawData));

    public static ApiCredentials LoadOrCreate(string tokenFile, string certificateFile, string hostName)
    {
        if (!File.Exists(tokenFile)) WritePrivate(tokenFile, System.Text.Encoding.ASCII.GetBytes(Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(32))));
        string token = File.ReadAllText(tokenFile).Trim();
        if (token.Length < 32) throw new InvalidDataException($"{tokenFile} holds no usable token (delete it to have a new one made)");
        if (!File.Exists(certificateFile)) WritePrivate(certificateFile, NewCertificate(hostName).Export(X509ContentType.Pfx));
        var certificate = X509CertificateLoader.LoadPkcs12FromFile(certificateFile, password: null);
        return new ApiCredentials(token, certificate);
    }

    private static X509Certificate2 NewCertificate(string hostName)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN=sharpvisor@{hostName}", key, HashAlgorithmName.SHA256);
        var names = new SubjectAlternativeNameBuilder();
        names.AddDnsName(hostName);
        names.AddDnsName("localhost");
        names.AddIpAddress(System.Net.IPAddress.Loopback);
        request.CertificateExtensions.Add(names.Build());
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, true));
        return request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddYears(10));
    }

    // Written under a temporary name with mode 0600 from the start, then renamed: never readable by others, never half written.
    private static void WritePrivate(string path, byte[] content)
    {
        string temporary = path + ".new";
        using (var stream = new FileStream(temporary, new FileStreamOptions
        {
            Mode = FileMode.Create, Access = FileAccess.Write, UnixCreateMode = UnixFileMode.UserRead | UnixFileMode.UserWrite,
        }))
        {
            stream.Write(content);
            stream.Flush(flushToDisk: true);
        }
        File.Move(temporary, path, overwrite: true);
    }
}
