using Sharpvisor.Vmm.Images;

namespace Sharpvisor.Vmm.Tests.Images;

/// <summary>Runs the real apt against package lists of its own (Dir::State::Lists), so the host's are untouched.</summary>
public sealed class DebianPackageFetcherTests : IDisposable
{
    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("sharpvisor-apt-test-");

    public void Dispose() => _temp.Delete(recursive: true);

    [Fact]
    public async Task Empty_lists_are_updated_once_then_a_package_is_found_downloaded_and_unpacked_and_unknown_names_fail()
    {
        string lists = Directory.CreateDirectory(Path.Combine(_temp.FullName, "lists")).FullName;
        string[] options = [$"Dir::State::Lists={lists}"];
        using var timeout = new CancellationTokenSource(TimeSpan.FromMinutes(2));

        var lines = new List<string>();
        var fetcher = new DebianPackageFetcher(new SynchronousProgress(lines), options);
        var busybox = await fetcher.ShowAsync("busybox-static", timeout.Token);
        Assert.Equal(["running apt-get update (apt's package lists are empty)"], lines);
        Assert.Matches(@"^(\d+:)?1\.\d+", busybox.Version);
        Assert.InRange(busybox.Size, 100_000, 10_000_000);

        var debs = await fetcher.DownloadAsync([busybox], Path.Combine(_temp.FullName, "debs"), timeout.Token);
        Assert.Equal(busybox.Size, new FileInfo(debs[0]).Length);
        var field = HostTools.Run("dpkg-deb", ["-f", debs[0], "Version"], null);
        Assert.Equal(busybox.Version, field.Output.Trim());
        string root = Path.Combine(_temp.FullName, "root");
        await fetcher.ExtractAsync(debs[0], root, timeout.Token);
        Assert.True(File.Exists(Path.Combine(root, "bin", "busybox")));
        Assert.Equal(1, lines.Count(l => l.StartsWith("running apt-get update")));

        // Lists present but the name unknown: one more update, then a clear error instead of a loop.
        lines.Clear();
        var second = new DebianPackageFetcher(new SynchronousProgress(lines), options);
        var error = await Assert.ThrowsAsync<GuestImageException>(
            () => second.ShowAsync("sharpvisor-no-such-package", timeout.Token));
        Assert.Contains("Still failing after apt-get update", error.Message);
        Assert.Single(lines, l => l.StartsWith("running apt-get update (apt-cache knows no package sharpvisor-no-such-package"));

        // A version that vanished from the mirror: one update, then the packages are resolved again and fetched.
        lines.Clear();
        var third = new DebianPackageFetcher(new SynchronousProgress(lines), options);
        int resolutions = 0;
        var fetched = await third.ResolveAndDownloadAsync(async token =>
        {
            var current = await third.ShowAsync("busybox-static", token);
            return [++resolutions == 1 ? current with { Version = "0.0-sharpvisor-gone" } : current];
        }, Path.Combine(_temp.FullName, "debs2"), timeout.Token);
        Assert.Equal(2, resolutions);
        Assert.Single(lines, l => l.StartsWith("running apt-get update (") && l.Contains("'0.0-sharpvisor-gone' for 'busybox-static' was not found"));
        Assert.Equal(busybox, fetched[0].Package);
        Assert.Equal(Path.GetFileName(debs[0]), Path.GetFileName(fetched[0].DebPath));
    }
}
