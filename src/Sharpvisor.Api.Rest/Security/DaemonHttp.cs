using System.Net.Http.Headers;
using System.Net.Security;
using System.Security.Cryptography;

namespace Sharpvisor.Api.Rest.Security;

/// <summary>HTTP clients for a daemon's API: over its Unix socket, or over TLS with its certificate pinned by fingerprint and its token.</summary>
public static class DaemonHttp
{
    public static HttpClient UnixClient(string socketPath, TimeSpan? timeout = null)
    {
        var handler = new SocketsHttpHandler
        {
            ConnectCallback = async (_, ct) =>
            {
                var socket = new System.Net.Sockets.Socket(System.Net.Sockets.AddressFamily.Unix, System.Net.Sockets.SocketType.Stream, System.Net.Sockets.ProtocolType.Unspecified);
                try
                {
                    await socket.ConnectAsync(new System.Net.Sockets.UnixDomainSocketEndPoint(socketPath), ct).ConfigureAwait(false);
                    return new System.Net.Sockets.NetworkStream(socket, ownsSocket: true);
                }
                catch
                {
                    socket.Dispose();
                    throw;
                }
            },
        };
        return new HttpClient(handler) { BaseAddress = new Uri("http://sharpvisor"), Timeout = timeout ?? TimeSpan.FromMinutes(10) };
    }

    /// <summary>A client of a daemon's TCP listener: the server's certificate must have <paramref name="fingerprint"/> (SHA-256, hex; ':' allowed).</summary>
    public static HttpClient TcpClient(Uri baseAddress, string token, string fingerprint, TimeSpan? timeout = null)
    {
        var handler = new SocketsHttpHandler { SslOptions = PinnedTls(fingerprint) };
        var client = new HttpClient(handler) { BaseAddress = baseAddress, Timeout = timeout ?? TimeSpan.FromMinutes(10) };
        client.DefaultRequestHeaders.Authorization = new AuthenticationHeaderValue("Bearer", token);
        return client;
    }

    public static SslClientAuthenticationOptions PinnedTls(string fingerprint)
    {
        string expected = fingerprint.Replace(":", "", StringComparison.Ordinal).ToLowerInvariant();
        return new SslClientAuthenticationOptions
        {
            RemoteCertificateValidationCallback = (_, certificate, _, _) =>
                certificate is not null && Convert.ToHexStringLower(SHA256.HashData(certificate.GetRawCertData())) == expected,
        };
    }
}
