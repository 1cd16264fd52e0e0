using System.Diagnostics;

namespace Sharpvisor.Vmm.Images;

/// <summary>
/// Looks up, downloads and unpacks Debian binary packages with the host's apt and dpkg, without installing them:
/// apt-cache show for the candidate version, apt-get download into a folder, dpkg -x into another.
/// When apt's package lists are empty or stale ("Unable to locate package", a 404 on download) it runs
/// apt-get update once and retries.
/// </summary>
public sealed class DebianPackageFetcher
{
    private const string AptListsDirectory = "/var/lib/apt/lists";
    private readonly IProgress<string>? _progress;
    private bool _listsUpdated;

    public DebianPackageFetcher(IProgress<string>? progress = null)
    {
        _progress = progress;
    }

    /// <summary>The candidate version of a package, as apt would install it.</summary>
    public Task<DebianPackage> ShowAsync(string packageName, CancellationToken ct) =>
        WithFreshListsAsync(async () =>
        {
            var stanza = await ShowStanzaAsync(packageName, ct).ConfigureAwait(false);
            return ToPackage(packageName, stanza);
        }, ct);

    /// <summary>
    /// The versioned package a metapackage such as linux-image-cloud-amd64 depends on, e.g.
    /// linux-image-6.1.0-28-cloud-amd64, at the version the metapackage pins.
    /// </summary>
    public Task<DebianPackage> ResolveDependencyAsync(string metaPackage, string dependencyPrefix, CancellationToken ct) =>
        WithFreshListsAsync(async () =>
        {
            var meta = await ShowStanzaAsync(metaPackage, ct).ConfigureAwait(false);
            string depends = meta.GetValueOrDefault("Depends", "");
            string? target = depends.Split(',', StringSplitOptions.TrimEntries | StringSplitOptions.RemoveEmptyEntries)
                .SelectMany(group => group.Split('|', StringSplitOptions.TrimEntries))
                .Select(alternative => alternative.Split(' ', '(')[0].Trim())
                .FirstOrDefault(name => name.StartsWith(dependencyPrefix, StringComparison.Ordinal) && name != metaPackage);
            if (target is null)
                throw new GuestImageException($"{metaPackage} depends on no package starting with '{dependencyPrefix}' (Depends: {depends}).");
            var stanza = await ShowStanzaAsync(target, ct).ConfigureAwait(false);
            return ToPackage(target, stanza);
        }, ct);

    /// <summary>Downloads exactly this package version into <paramref name="directory"/> and returns the .deb path.</summary>
    public Task<string> DownloadAsync(DebianPackage package, string directory, CancellationToken ct) =>
        WithFreshListsAsync(async () =>
        {
            Directory.CreateDirectory(directory);
            var before = Directory.GetFiles(directory, "*.deb").ToHashSet(StringComparer.Ordinal);
            _progress?.Report($"downloading {package.Name} {package.Version} ({FormatMebibytes(package.Size)})...");
            var stopwatch = Stopwatch.StartNew();
            using var reporting = CancellationTokenSource.CreateLinkedTokenSource(ct);
            Task reporter = ReportDownloadProgressAsync(package, directory, reporting.Token);
            ExternalProcessResult result;
            try
            {
                result = await ExternalProcess.RunAsync("apt-get", ["download", "-q", package.PinnedName], directory, ct)
                    .ConfigureAwait(false);
            }
            finally
            {
                reporting.Cancel();
                await reporter.ConfigureAwait(false);
            }
            if (!result.Succeeded)
            {
                if (LooksLikeStaleLists(result.StandardError)) throw new StaleAptListsException(result.Describe());
                throw new GuestImageException($"Downloading {package.PinnedName} failed: {result.Describe()}");
            }
            string? deb = Directory.GetFiles(directory, "*.deb").FirstOrDefault(f => !before.Contains(f));
            if (deb is null) throw new GuestImageException($"apt-get download {package.PinnedName} left no .deb in {directory}.");
            _progress?.Report($"downloaded {package.Name} in {stopwatch.Elapsed.TotalSeconds:0.0} s");
            return deb;
        }, ct);

    /// <summary>Unpacks a .deb's files into <paramref name="destination"/> (dpkg -x; nothing is installed).</summary>
    public async Task ExtractAsync(string debPath, string destination, CancellationToken ct)
    {
        Directory.CreateDirectory(destination);
        _progress?.Report($"unpacking {Path.GetFileName(debPath)}");
        var result = await ExternalProcess.RunAsync("dpkg", ["-x", debPath, destination], null, ct).ConfigureAwait(false);
        if (!result.Succeeded) throw new GuestImageException($"Unpacking {debPath} failed: {result.Describe()}");
    }

    public static string FormatMebibytes(long bytes) =>
        $"{bytes / (1024.0 * 1024.0):0.0} MiB";

    private async Task<T> WithFreshListsAsync<T>(Func<Task<T>> action, CancellationToken ct)
    {
        if (!_listsUpdated && AptListsLookEmpty())
            await UpdateListsAsync("apt's package lists are empty", ct).ConfigureAwait(false);
        try
        {
            return await action().ConfigureAwait(false);
        }
        catch (StaleAptListsException e) when (!_listsUpdated)
        {
            await UpdateListsAsync(e.Message, ct).ConfigureAwait(false);
            try
            {
                return await action().ConfigureAwait(false);
            }
            catch (StaleAptListsException again)
            {
                throw new GuestImageException($"Still failing after apt-get update: {again.Message}");
            }
        }
        catch (StaleAptListsException e)
        {
            throw new GuestImageException(e.Message);
        }
    }

    private async Task UpdateListsAsync(string reason, CancellationToken ct)
    {
        _listsUpdated = true;
        _progress?.Report($"running apt-get update ({FirstLine(reason)})");
        var result = await ExternalProcess.RunAsync("apt-get", ["update", "-q"], null, ct).ConfigureAwait(false);
        if (!result.Succeeded) throw new GuestImageException($"apt-get update failed: {result.Describe()}");
    }

    private static bool AptListsLookEmpty() =>
        Directory.Exists(AptListsDirectory) &&
        !Directory.EnumerateFiles(AptListsDirectory, "*_Packages*").Any();

    private static bool LooksLikeStaleLists(string aptError) =>
        aptError.Contains("Unable to locate package", StringComparison.Ordinal) ||
        aptError.Contains("No packages found", StringComparison.Ordinal) ||
        aptError.Contains("Can't select", StringComparison.Ordinal) ||     // pinned version no longer in the lists
        aptError.Contains("404", StringComparison.Ordinal);                // the lists name a file the mirror dropped

    private static async Task<Dictionary<string, string>> ShowStanzaAsync(string packageName, CancellationToken ct)
    {
        var result = await ExternalProcess.RunAsync("apt-cache", ["show", "--no-all-versions", packageName], null, ct)
            .ConfigureAwait(false);
        if (!result.Succeeded || result.StandardOutput.Trim().Length == 0)
        {
            if (LooksLikeStaleLists(result.StandardError) || result.StandardOutput.Trim().Length == 0)
                throw new StaleAptListsException($"apt-cache knows no package {packageName}: {result.Describe()}");
            throw new GuestImageException($"Looking up {packageName} failed: {result.Describe()}");
        }
        return ParseFirstStanza(result.StandardOutput);
    }

    /// <summary>The fields of the first deb822 stanza; continuation lines are joined to their field.</summary>
    private static Dictionary<string, string> ParseFirstStanza(string text)
    {
        var fields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        string? lastKey = null;
        foreach (string line in text.Split('\n'))
        {
            if (line.Trim().Length == 0)
            {
                if (fields.Count > 0) break;
                continue;
            }
            if ((line[0] == ' ' || line[0] == '\t') && lastKey is not null)
            {
                fields[lastKey] += "\n" + line.Trim();
                continue;
            }
            int colon = line.IndexOf(':');
            if (colon <= 0) continue;
            lastKey = line[..colon].Trim();
            fields[lastKey] = line[(colon + 1)..].Trim();
        }
        return fields;
    }

    private static DebianPackage ToPackage(string name, Dictionary<string, string> stanza)
    {
        if (!stanza.TryGetValue("Version", out string? version) || version.Length == 0)
            throw new GuestImageException($"apt-cache show {name} gave no Version.");
        long size = stanza.TryGetValue("Size", out string? sizeText) && long.TryParse(sizeText, out long parsed) ? parsed : 0;
        return new DebianPackage(stanza.GetValueOrDefault("Package", name), version, size);
    }

    private async Task ReportDownloadProgressAsync(DebianPackage package, string directory, CancellationToken ct)
    {
        if (_progress is null || package.Size <= 0) return;
        int lastPercent = -1;
        try
        {
            while (true)
            {
                await Task.Delay(TimeSpan.FromSeconds(2), ct).ConfigureAwait(false);
                // apt writes into the target folder (or its partial/ subfolder) while fetching.
                long bytes = new DirectoryInfo(directory).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
                int percent = (int)Math.Min(100, bytes * 100 / package.Size);
                if (percent != lastPercent)
                {
                    _progress.Report($"downloading {package.Name}: {percent}% of {FormatMebibytes(package.Size)}");
                    lastPercent = percent;
                }
            }
        }
        catch (OperationCanceledException)
        {
            // The download ended.
        }
        catch (IOException)
        {
            // Files came and went while counting; progress is only cosmetic.
        }
    }

    private static string FirstLine(string text) => text.Split('\n')[0].Trim();
}
