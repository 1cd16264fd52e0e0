using System.Collections.Concurrent;
using Microsoft.Playwright;
using Xunit.Abstractions;
using Sharpvisor.Host.Tests.Daemon;
using Sharpvisor.Vmm.Images;

namespace Sharpvisor.Dashboard.Tests;

/// <summary>
/// A VM's whole life from the dashboard in Chromium: created from the form (a bad size refused beside its field),
/// started (Running arrives through the events websocket), its console used from the page, stopped and deleted.
/// </summary>
public sealed class DashboardVmTests(ITestOutputHelper output) : IDisposable
{
    private static readonly TimeSpan Boot = TimeSpan.FromMinutes(5);
    private readonly DaemonProcess _daemon = new();

    [SkippableFact]
    public async Task A_vm_is_created_started_used_through_its_console_stopped_and_deleted_from_the_page()
    {
        await using var chromium = await DebianChromium.LaunchAsync();
        var context = await chromium.NewContextAsync();
        var page = await context.NewPageAsync();
        var ui = new DashboardPage(page, _daemon);
        var eventFrames = new ConcurrentQueue<string>();
        page.WebSocket += (_, socket) =>
        {
            if (socket.Url.EndsWith("/1.0/events", StringComparison.Ordinal)) socket.FrameReceived += (_, frame) => eventFrames.Enqueue(frame.Text ?? "");
        };
        page.Console += (_, message) => output.WriteLine($"page: {message.Text}");
        await ui.SignInAsync(_daemon.Token);

        // The form: a size the API cannot read is shown beside the memory field, and nothing is created.
        await page.GetByRole(AriaRole.Link, new() { Name = "Create VM" }).ClickAsync();
        await page.GetByLabel("Name", new() { Exact = true }).FillAsync("web");
        await page.GetByLabel("Memory").FillAsync("256Q");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create", Exact = true }).ClickAsync();
        await Assertions.Expect(page.Locator("#memory-error")).ToContainTextAsync("'256Q' is not a memory size");
        await Assertions.Expect(page.GetByLabel("Memory")).ToHaveAttributeAsync("aria-invalid", "true");
        await ui.ScreenshotAsync("create-field-error");
        Assert.Equal(404, (await _daemon.SendAsync(HttpMethod.Get, "/1.0/instances/web")).Status);

        await page.GetByLabel("Memory").FillAsync("256M");
        await page.GetByLabel("Engine").SelectOptionAsync("emulator");
        await page.GetByRole(AriaRole.Button, new() { Name = "Create", Exact = true }).ClickAsync();
        await Assertions.Expect(ui.Row("web")).ToContainTextAsync("Stopped");
        await Assertions.Expect(ui.Row("web")).ToContainTextAsync("256 MiB");
        await Assertions.Expect(ui.Row("web")).ToContainTextAsync("emulator");

        // Start: the row turns Running when the daemon's event says so.
        await ui.Action("Start", "web").ClickAsync();
        await Assertions.Expect(ui.Row("web").Locator(".state")).ToHaveTextAsync("Running", new() { Timeout = (float)Boot.TotalMilliseconds });
        Assert.Contains(eventFrames, f => f.Contains("\"instance\":\"web\"", StringComparison.Ordinal) && f.Contains("\"status\":\"running\"", StringComparison.Ordinal));
        await ui.ScreenshotAsync("vm-list-running");

        // The console: the log first, then live; `uname -r` typed in the page answers with the kernel's release.
        await page.GetByRole(AriaRole.Link, new() { Name = "Console of web" }).ClickAsync();
        await Assertions.Expect(page.Locator("#console-state")).ToHaveTextAsync("Connected");
        await Assertions.Expect(page.Locator(".xterm-rows")).ToContainTextAsync(DefaultGuestImage.ReadyLinePrefix, new() { Timeout = (float)Boot.TotalMilliseconds });
        await page.GetByRole(AriaRole.Group, new() { Name = "Serial console of web" }).ClickAsync();
        await UnameAnswersAsync(page);
        await ui.ScreenshotAsync("console-uname");

        // A reboot typed in the page: the same connection shows the guest booting again and takes commands after.
        await page.Keyboard.TypeAsync("reboot");
        await page.Keyboard.PressAsync("Enter");
        await WaitForReadyLinesAsync("web", 2);
        await UnameAnswersAsync(page);

        // A dropped connection (the VMM restarted underneath: its console closes): the page reconnects by itself.
        var (restart, _) = await _daemon.SendAsync(HttpMethod.Put, "/1.0/instances/web/state", new { action = "restart", force = true });
        Assert.Equal(202, restart);
        await Assertions.Expect(page.Locator("#console-state")).Not.ToHaveTextAsync("Connected", new() { Timeout = 60_000 });
        await Assertions.Expect(page.Locator("#console-state")).ToHaveTextAsync("Connected", new() { Timeout = (float)Boot.TotalMilliseconds });
        await WaitForReadyLinesAsync("web", 3);
        await UnameAnswersAsync(page);
        await ui.ScreenshotAsync("console-reconnected");

        // Stop, then delete after confirming.
        await page.GetByRole(AriaRole.Link, new() { Name = "Back to the VMs" }).ClickAsync();
        await ui.Action("Stop", "web").ClickAsync();
        await Assertions.Expect(ui.Row("web").Locator(".state")).ToHaveTextAsync("Stopped", new() { Timeout = 60_000 });
        await ui.Action("Delete", "web").ClickAsync();
        await Assertions.Expect(page.GetByRole(AriaRole.Dialog)).ToContainTextAsync("Delete web?");
        await page.GetByRole(AriaRole.Dialog).GetByRole(AriaRole.Button, new() { Name = "Delete" }).ClickAsync();
        await Assertions.Expect(ui.Row("web")).ToHaveCountAsync(0);
        await Assertions.Expect(page.GetByText("No VMs yet.")).ToBeVisibleAsync();
        Assert.Equal(404, (await _daemon.SendAsync(HttpMethod.Get, "/1.0/instances/web")).Status);
    }

    // Each command carries a number of its own (a shell comment), so an earlier answer still on the screen does not count.
    private int _commands;

    /// <summary>Types `uname -r` into the page's terminal and waits for a row after it that starts with the release (the boot log's "Linux version 6.1.0-..." does not count).</summary>
    private async Task UnameAnswersAsync(IPage page)
    {
        string command = $"uname -r # {++_commands}";
        await page.Keyboard.TypeAsync(command);
        await page.Keyboard.PressAsync("Enter");
        await page.WaitForFunctionAsync("""
            command => {
              const rows = [...document.querySelectorAll('.xterm-rows > div')].map(r => r.textContent);
              const typed = rows.findLastIndex(r => r.includes(command));
              return typed >= 0 && rows.slice(typed + 1).some(r => /^6\.1\.0-\d+/.test(r.trim()));
            }
            """, command, new() { Timeout = 60_000 });
    }

    private async Task WaitForReadyLinesAsync(string vm, int count)
    {
        var deadline = DateTime.UtcNow + Boot;
        while (CountOf(await _daemon.ConsoleLogAsync(vm), DefaultGuestImage.ReadyLinePrefix) < count)
        {
            Assert.True(DateTime.UtcNow < deadline, $"{vm} did not show its ready line {count} times in {Boot}");
            await Task.Delay(500);
        }
    }

    private static int CountOf(string text, string part)
    {
        int count = 0;
        for (int at = text.IndexOf(part, StringComparison.Ordinal); at >= 0; at = text.IndexOf(part, at + part.Length, StringComparison.Ordinal)) count++;
        return count;
    }

    public void Dispose()
    {
        output.WriteLine($"daemon output:\n{_daemon.Output}");
        _daemon.Dispose();
    }
}
