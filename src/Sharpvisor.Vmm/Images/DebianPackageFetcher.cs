using System.Diagnostics;

namespace Sharpvisor.Vmm.Images;

/// <summary>
/// Looks up, downloads and unpacks Debian binary packages with the host's apt and dpkg, without installing them:
/// apt-cache show for the candidate versions, apt-get download into a folder, dpkg -x into another.
/// When apt's package lists are empty or stale ("Unable to locate package", a 404 on download) it runs
/// apt-get update once and retries.
/// </summary>
public sealed class DebianPackageFetcher
{
    private const string DefaultListsDirectory = "/var/lib/apt/lists";
    private const string ListsOption = "Dir::State::Lists=";
    private readonly IProgress<string>? _progress;
    private readonly string[] _aptArguments;
    private readonly string _listsDirectory;
    private bool _listsUpdated;

    /// <param name="progress">Receives one line per step.</param>
    /// <param name="aptOptions">apt configuration items ("Key=Value") passed as -o to every apt run, e.g.
    /// "Dir::State::Lists=/some/folder" to use package lists of one's own.</param>
    public DebianPackageFetcher(IProgress<string>? progress = null, IReadOnlyList<string>? aptOptions = null)
    {
        _progress = progress;
        _aptArguments = (aptOptions ?? []).SelectMany(option => new[] { "-o", option }).ToArray();
        _listsDirectory = (aptOptions ?? []).LastOrDefault(o => o.StartsWith(ListsOption, StringComparison.Ordinal))?
            [ListsOption.Length..] ?? DefaultListsDirectory;
    }

    /// <summary>The candidate versions of packages, as apt would install them, in the order asked for.</summary>
    /// <remarks>One apt-cache run for all: each run parses all package lists, about a second here.</remarks>
    public Task<IReadOnlyList<DebianPackage>> ShowAsync(IReadOnlyList<string> packageNames, CancellationToken ct) =>
        WithFreshListsAsync(async () =>
        {
            var result = await ExternalProcess.RunAsync("apt-cache", [.. _aptArguments, "show", "--no-all-versions", .. packageNames], null, ct)
                .ConfigureAwait(false);
            var stanzas = ParseStanzas(result.StandardOutput);
            if (!result.Succeeded || packageNames.Any(name => !stanzas.ContainsKey(name)))
            {
                string missing = string.Join(", ", packageNames.Where(name => !stanzas.ContainsKey(name)));
                if (missing.Length > 0 || LooksLikeStaleLists(result.StandardError))
                    throw new StaleAptListsException($"apt-cache knows no package {missing}: {result.Describe()}");
                throw new GuestImageException($"Looking up {string.Join(", ", packageNames)} failed: {result.Describe()}");
            }
            return (IReadOnlyList<DebianPackage>)packageNames.Select(name => ToPackage(name, stanzas[name])).ToArray();
        }, ct);

    public async Task<DebianPackage> ShowAsync(string packageName, CancellationToken ct) =>
        (await ShowAsync([packageName], ct).ConfigureAwait(false))[0];

    /// <summary>
    /// Downloads exactly these package versions into <paramref name="directory"/> with one apt-get run and returns
    /// the .deb paths in the same order.
    /// </summary>
    public Task<IReadOnlyList<string>> DownloadAsync(IReadOnlyList<DebianPackage> packages, string directory, CancellationToken ct) =>
        WithFreshListsAsync(() => DownloadOnceAsync(packages, directory, ct), ct);

    /// <summary>
    /// Resolves packages with <paramref name="resolve"/> (e.g. through <see cref="ShowAsync(IReadOnlyList{string}, CancellationToken)"/>)
    /// and downloads them. If the download shows the lists are stale (the version is gone from the mirror), the lists
    /// are updated once and the packages resolved again, since the old versions will not come back.
    /// </summary>
    public Task<IReadOnlyList<(DebianPackage Package, string DebPath)>> ResolveAndDownloadAsync(
        Func<CancellationToken, Task<IReadOnlyList<DebianPackage>>> resolve, string directory, CancellationToken ct) =>
        WithFreshListsAsync(async () =>
        {
            var packages = await resolve(ct).ConfigureAwait(false);
            var debs = await DownloadOnceAsync(packages, directory, ct).ConfigureAwait(false);
            return (IReadOnlyList<(DebianPackage, string)>)packages.Zip(debs).ToArray();
        }, ct);

    private async Task<IReadOnlyList<string>> DownloadOnceAsync(IReadOnlyList<DebianPackage> packages, string directory,
        CancellationToken ct)
    {
        Directory.CreateDirectory(directory);
        foreach (var package in packages)
            _progress?.Report($"downloading {package.Name} {package.Version} ({FormatMebibytes(package.Size)})...");
        var stopwatch = Stopwatch.StartNew();
        using var reporting = CancellationTokenSource.CreateLinkedTokenSource(ct);
        Task reporter = ReportDownloadProgressAsync(packages.Sum(p => p.Size), directory, reporting.Token);
        ExternalProcessResult result;
        try
        {
            result = await ExternalProcess.RunAsync("apt-get", [.. _aptArguments, "download", "-q", .. packages.Select(p => p.PinnedName)],
                directory, ct).ConfigureAwait(false);
        }
        finally
        {
            reporting.Cancel();
            await reporter.ConfigureAwait(false);
        }
        if (!result.Succeeded)
        {
            if (LooksLikeStaleLists(result.StandardError)) throw new StaleAptListsException(result.Describe());
            throw new GuestImageException($"Downloading {string.Join(" ", packages.Select(p => p.PinnedName))} failed: {result.Describe()}");
        }
        var debs = new List<string>();
        foreach (var package in packages)
        {
            // apt names the file name_version_arch.deb with the version's ':' escaped as %3a.
            string pattern = $"{package.Name}_{package.Version.Replace(":", "%3a")}_*.deb";
            string? deb = Directory.GetFiles(directory, pattern).SingleOrDefault();
            if (deb is null) throw new GuestImageException($"apt-get download {package.PinnedName} left no {pattern} in {directory}.");
            debs.Add(deb);
        }
        _progress?.Report($"downloaded {FormatMebibytes(packages.Sum(p => p.Size))} in {stopwatch.Elapsed.TotalSeconds:0.0} s");
        return debs;
    }

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
        var result = await ExternalProcess.RunAsync("apt-get", [.. _aptArguments, "update", "-q"], null, ct).ConfigureAwait(false);
        if (!result.Succeeded) throw new GuestImageException($"apt-get update failed: {result.Describe()}");
    }

    private bool AptListsLookEmpty() =>
        !Directory.Exists(_listsDirectory) || !Directory.EnumerateFiles(_listsDirectory, "*_Packages*").Any();

    private static bool LooksLikeStaleLists(string aptError) =>
        aptError.Contains("Unable to locate package", StringComparison.Ordinal) ||
        aptError.Contains("No packages found", StringComparison.Ordinal) ||
        aptError.Contains("was not found", StringComparison.Ordinal) ||    // pinned version no longer in the lists
        aptError.Contains("404", StringComparison.Ordinal);                // the lists name a file the mirror dropped

    /// <summary>deb822 stanzas by their Package field (the first one per package); continuation lines are joined.</summary>
    private static Dictionary<string, Dictionary<string, string>> ParseStanzas(string text)
    {
        var stanzas = new Dictionary<string, Dictionary<string, string>>(StringComparer.Ordinal);
        var fields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        string? lastKey = null;
        void Close()
        {
            if (fields.TryGetValue("Package", out string? name)) stanzas.TryAdd(name, fields);
            fields = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
            lastKey = null;
        }
        foreach (string line in text.Split('\n'))
        {
            if (line.Trim().Length == 0)
            {
                Close();
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
        Close();
        return stanzas;
    }

    private static DebianPackage ToPackage(string name, Dictionary<string, string> stanza)
    {
        if (!stanza.TryGetValue("Version", out string? version) || version.Length == 0)
            throw new GuestImageException($"apt-cache show {name} gave no Version.");
        long size = stanza.TryGetValue("Size", out string? sizeText) && long.TryParse(sizeText, out long parsed) ? parsed : 0;
        return new DebianPackage(name, version, size, stanza.GetValueOrDefault("Depends", ""));
    }

    private async Task ReportDownloadProgressAsync(long totalBytes, string directory, CancellationToken ct)
    {
        if (_progress is null || totalBytes <= 0) return;
        int lastPercent = -1;
        try
        {
            while (true)
            {
                await Task.Delay(TimeSpan.FromSeconds(2), ct).ConfigureAwait(false);
                // apt writes into the target folder (or its partial/ subfolder) while fetching.
                long bytes = new DirectoryInfo(directory).EnumerateFiles("*", SearchOption.AllDirectories).Sum(f => f.Length);
                int percent = (int)Math.Min(100, bytes * 100 / totalBytes);
                if (percent != lastPercent)
                {
                    _progress.Report($"downloading: {percent}% of {FormatMebibytes(totalBytes)}");
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
