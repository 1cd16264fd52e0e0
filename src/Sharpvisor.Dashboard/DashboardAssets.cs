using System.Collections.Frozen;
using System.Security.Cryptography;

namespace Sharpvisor.Dashboard;

/// <summary>One file of the built page: its bytes, content type and ETag.</summary>
public sealed record DashboardAsset(byte[] Content, string ContentType, string ETag);

/// <summary>The page's files as the build embedded them in this assembly (index.html, app.js, app.css), read once.</summary>
public static class DashboardAssets
{
    private const string Prefix = "dashboard/";

    public static readonly FrozenDictionary<string, DashboardAsset> Files = Load();

    private static FrozenDictionary<string, DashboardAsset> Load()
    {
        var assembly = typeof(DashboardAssets).Assembly;
        var files = new Dictionary<string, DashboardAsset>(StringComparer.Ordinal);
        foreach (string resource in assembly.GetManifestResourceNames())
        {
            if (!resource.StartsWith(Prefix, StringComparison.Ordinal)) continue;
            using var stream = assembly.GetManifestResourceStream(resource)!;
            using var copy = new MemoryStream();
            stream.CopyTo(copy);
            byte[] content = copy.ToArray();
            string name = resource[Prefix.Length..];
            files[name] = new DashboardAsset(content, ContentType(name), $"\"{Convert.ToHexStringLower(SHA256.HashData(content))[..32]}\"");
        }
        // The build embeds them; an assembly without them was built wrongly, and saying so beats a blank page.
        foreach (string needed in new[] { "index.html", "app.js", "app.css" })
            if (!files.ContainsKey(needed)) throw new InvalidOperationException($"the dashboard's {needed} is not embedded in {assembly.GetName().Name}: its npm build did not run");
        return files.ToFrozenDictionary(StringComparer.Ordinal);
    }

    private static string ContentType(string name) => Path.GetExtension(name) switch
    {
        ".html" => "text/html; charset=utf-8",
        ".js" => "text/javascript; charset=utf-8",
        ".css" => "text/css; charset=utf-8",
        _ => "application/octet-stream",
    };
}
