using System.Security.Cryptography;
using System.Text.Encodings.Web;
using System.Text.Json;
using System.Text.Json.Serialization;

namespace Sharpvisor.Vmm.Images;

/// <summary>
/// manifest.json of a cached guest image: what it was built from, when, and the size and SHA-256 of each file, so a
/// damaged or half-written cache is noticed on load and rebuilt.
/// </summary>
public sealed record GuestImageManifest
{
    /// <summary>Version of the manifest and of the image layout (init script, file set); other versions are rebuilt.</summary>
    // 2: the init script handles reboot/poweroff/halt signals; 3: and follows root=/dev/vdX; 4: the power button (button,
    // evdev, acpid) powers off and Ctrl-Alt-Del reboots; 5: the signal traps are set before the ready line;
    // 6: the vsock modules and /usr/bin/vsockcat; 7: and a NIC takes a DHCP lease (udhcpc and its script).
    public const int CurrentVersion = 7;

    public int Version { get; init; } = CurrentVersion;
    public required string ImageName { get; init; }
    public required string KernelPackage { get; init; }
    public required string KernelPackageVersion { get; init; }

    /// <summary>The `uname -r` of the kernel, the name of its /lib/modules folder.</summary>
    public required string KernelRelease { get; init; }

    public required string BusyboxPackage { get; init; }
    public required string BusyboxVersion { get; init; }

    /// <summary>Modules the init script loads, in load order.</summary>
    public required IReadOnlyList<string> Modules { get; init; }

    /// <summary>The image's files by file name (relative to the image folder).</summary>
    public required IReadOnlyDictionary<string, GuestImageFile> Files { get; init; }

    public required DateTimeOffset BuiltAt { get; init; }

    private static readonly JsonSerializerOptions JsonOptions = new()
    {
        WriteIndented = true,
        PropertyNamingPolicy = JsonNamingPolicy.CamelCase,
        DefaultIgnoreCondition = JsonIgnoreCondition.Never,
        // Keep Debian versions such as "1:1.35.0-4+deb12u1" readable; the file is never embedded in HTML.
        Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping,
    };

    public string ToJson() => JsonSerializer.Serialize(this, JsonOptions);

    /// <summary>Parses a manifest; malformed JSON or missing fields give a <see cref="JsonException"/>.</summary>
    public static GuestImageManifest FromJson(string json)
    {
        var manifest = JsonSerializer.Deserialize<GuestImageManifest>(json, JsonOptions)
                       ?? throw new JsonException("The manifest is empty.");
        // "required" only demands the keys; explicit nulls would otherwise slip through.
        if (manifest.ImageName is null || manifest.KernelPackage is null || manifest.KernelPackageVersion is null ||
            manifest.KernelRelease is null || manifest.BusyboxPackage is null || manifest.BusyboxVersion is null ||
            manifest.Modules is null || manifest.Files is null || manifest.Files.Values.Any(f => f?.Sha256 is null))
            throw new JsonException("The manifest has null fields.");
        return manifest;
    }

    /// <summary>Size and SHA-256 of a file on disk.</summary>
    public static GuestImageFile Describe(string path)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.Read, 1 << 16);
        byte[] hash = SHA256.HashData(stream);
        return new GuestImageFile(stream.Length, Convert.ToHexStringLower(hash));
    }

    /// <summary>
    /// Checks that every listed file exists in <paramref name="directory"/> with the recorded size and SHA-256.
    /// Returns null when all match, otherwise what is wrong.
    /// </summary>
    public string? FindMismatch(string directory)
    {
        if (Files.Count == 0) return "the manifest lists no files";
        foreach (var (name, expected) in Files)
        {
            if (name.Contains('/') || name.Contains('\\') || name is "." or "..") return $"bad file name '{name}'";
            string path = Path.Combine(directory, name);
            if (!File.Exists(path)) return $"{name} is missing";
            GuestImageFile actual;
            try
            {
                if (new FileInfo(path).Length != expected.Size)
                    return $"{name} has {new FileInfo(path).Length} bytes, the manifest says {expected.Size}";
                actual = Describe(path);
            }
            catch (IOException e)
            {
                return $"{name} cannot be read: {e.Message}";
            }
            if (!string.Equals(actual.Sha256, expected.Sha256, StringComparison.OrdinalIgnoreCase))
                return $"{name} has SHA-256 {actual.Sha256}, the manifest says {expected.Sha256}";
        }
        return null;
    }
}
