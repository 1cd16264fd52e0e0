using Microsoft.Playwright;
using Sharpvisor.Host.Tests.Daemon;

namespace Sharpvisor.Dashboard.Tests;

/// <summary>One browser page on a daemon's dashboard (https://127.0.0.1:PORT/ui), with the steps the tests share.</summary>
public sealed class DashboardPage(IPage page, DaemonProcess daemon)
{
    public IPage Page { get; } = page;
    public string Url => $"https://127.0.0.1:{daemon.TcpPort}/ui";

    public static readonly string ScreenshotFolder = Path.Combine(AppContext.BaseDirectory, "dashboard-screenshots");

    public async Task SignInAsync(string token)
    {
        await Page.GotoAsync(Url);
        await Page.GetByLabel("Daemon token").FillAsync(token);
        await Page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
    }

    public ILocator Row(string vm) => Page.Locator($"tr[data-vm='{vm}']");

    public ILocator Action(string label, string vm) => Page.GetByRole(AriaRole.Button, new() { Name = $"{label} {vm}", Exact = true });

    /// <summary>Saves the page as it looks now beside the test's binaries (dashboard-screenshots/NAME.png).</summary>
    public async Task ScreenshotAsync(string name)
    {
        Directory.CreateDirectory(ScreenshotFolder);
        await Page.ScreenshotAsync(new PageScreenshotOptions { Path = Path.Combine(ScreenshotFolder, name + ".png"), FullPage = true });
    }
}
