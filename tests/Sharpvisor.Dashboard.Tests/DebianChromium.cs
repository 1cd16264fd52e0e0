using Microsoft.Playwright;

namespace Sharpvisor.Dashboard.Tests;

/// <summary>
/// Debian's chromium, started by Playwright through its executable path (Playwright's own browser download cannot
/// work on our hosts). Headless, without the sandbox (the tests run as root) and without Chromium's background traffic.
/// </summary>
public sealed class DebianChromium : IAsyncDisposable
{
    private readonly IPlaywright _playwright;

    private DebianChromium(IPlaywright playwright, IBrowser browser)
    {
        _playwright = playwright;
        Browser = browser;
    }

    public IBrowser Browser { get; }

    /// <summary>Skips the test, naming the package, where chromium is not installed (./sharpvisor test installs it).</summary>
    public static async Task<DebianChromium> LaunchAsync()
    {
        HostRequires.Tool("chromium", "chromium");
        var playwright = await Playwright.CreateAsync();
        var browser = await playwright.Chromium.LaunchAsync(new BrowserTypeLaunchOptions
        {
            ExecutablePath = HostRequires.FindOnPath("chromium"),
            Headless = true,
            Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
        });
        return new DebianChromium(playwright, browser);
    }

    /// <summary>A fresh profile at 1280x800 that accepts the daemon's self-signed certificate.</summary>
    public Task<IBrowserContext> NewContextAsync() =>
        Browser.NewContextAsync(new BrowserNewContextOptions { IgnoreHTTPSErrors = true, ViewportSize = new ViewportSize { Width = 1280, Height = 800 } });

    public async ValueTask DisposeAsync()
    {
        await Browser.DisposeAsync();
        _playwright.Dispose();
    }
}
