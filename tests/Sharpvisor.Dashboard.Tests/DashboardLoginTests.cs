using Microsoft.Playwright;
using Sharpvisor.Host.Tests.Daemon;

namespace Sharpvisor.Dashboard.Tests;

/// <summary>Signing in to the dashboard in Chromium: the token is taken once, the session lives in an HttpOnly, SameSite=Strict cookie.</summary>
public sealed class DashboardLoginTests : IDisposable
{
    private readonly DaemonProcess _daemon = new();

    [SkippableFact]
    public async Task A_wrong_token_is_refused_beside_the_field_and_the_right_one_opens_the_vm_list()
    {
        await using var chromium = await DebianChromium.LaunchAsync();
        var context = await chromium.NewContextAsync();
        var ui = new DashboardPage(await context.NewPageAsync(), _daemon);

        await ui.SignInAsync("0123456789abcdef0123456789abcdef-not-the-token");
        await Assertions.Expect(ui.Page.Locator("#token-error")).ToHaveTextAsync("that is not this daemon's token");
        await Assertions.Expect(ui.Page.GetByLabel("Daemon token")).ToHaveAttributeAsync("aria-invalid", "true");
        Assert.Empty(await context.CookiesAsync());
        await ui.ScreenshotAsync("login-refused");

        await ui.Page.GetByLabel("Daemon token").FillAsync(_daemon.Token);
        await ui.Page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
        await Assertions.Expect(ui.Page.GetByRole(AriaRole.Heading, new() { Name = "Virtual machines" })).ToBeVisibleAsync();
        await Assertions.Expect(ui.Page.GetByText("No VMs yet.")).ToBeVisibleAsync();

        var cookie = Assert.Single(await context.CookiesAsync());
        Assert.Equal("sharpvisor_session", cookie.Name);
        Assert.True(cookie.HttpOnly, "the session cookie must be HttpOnly");
        Assert.True(cookie.Secure, "the session cookie must be Secure");
        Assert.Equal(SameSiteAttribute.Strict, cookie.SameSite);
        Assert.DoesNotContain(_daemon.Token, cookie.Value, StringComparison.Ordinal);
        // Page script cannot see it, and the daemon's token is nowhere in the page's storage.
        Assert.Equal("", await ui.Page.EvaluateAsync<string>("document.cookie"));
        Assert.DoesNotContain(_daemon.Token, await ui.Page.EvaluateAsync<string>("JSON.stringify(localStorage) + JSON.stringify(sessionStorage)"), StringComparison.Ordinal);

        // A reload keeps the session; logging out ends it.
        await ui.Page.ReloadAsync();
        await Assertions.Expect(ui.Page.GetByRole(AriaRole.Heading, new() { Name = "Virtual machines" })).ToBeVisibleAsync();
        await ui.Page.GetByRole(AriaRole.Button, new() { Name = "Log out" }).ClickAsync();
        await Assertions.Expect(ui.Page.GetByLabel("Daemon token")).ToBeVisibleAsync();
        await ui.Page.ReloadAsync();
        await Assertions.Expect(ui.Page.GetByLabel("Daemon token")).ToBeVisibleAsync();
    }

    [SkippableFact]
    public async Task A_state_changing_call_with_the_cookie_but_without_the_csrf_token_is_refused()
    {
        await using var chromium = await DebianChromium.LaunchAsync();
        var context = await chromium.NewContextAsync();
        var ui = new DashboardPage(await context.NewPageAsync(), _daemon);
        await ui.SignInAsync(_daemon.Token);
        await Assertions.Expect(ui.Page.GetByRole(AriaRole.Heading, new() { Name = "Virtual machines" })).ToBeVisibleAsync();

        // As a forged request would: the browser sends the cookie, but the script has no CSRF token to add.
        int status = await ui.Page.EvaluateAsync<int>(
            "fetch('/1.0/instances', { method: 'POST', headers: { 'Content-Type': 'application/json' }, body: JSON.stringify({ name: 'forged' }) }).then(r => r.status)");
        Assert.Equal(403, status);
        Assert.Equal(404, (await _daemon.SendAsync(HttpMethod.Get, "/1.0/instances/forged")).Status);
        // Reading needs no CSRF token.
        Assert.Equal(200, await ui.Page.EvaluateAsync<int>("fetch('/1.0/instances').then(r => r.status)"));
    }

    public void Dispose() => _daemon.Dispose();
}
