using System.Diagnostics;
using System.Globalization;
using Microsoft.Playwright;

// bench/dashboard: in Debian's chromium (headless, through Playwright), against a daemon whose VM NAME is at its shell:
//  load: a signed-in page navigated to /ui until the VM's row is drawn (the page interactive with its data), and the
//        browser's own domInteractive, over ROUNDS fresh loads;
//  echo: a key pressed in the console page until the guest's echo is drawn by xterm.js, measured inside the page
//        (keydown to the DOM change), over ROUNDS keys.
// Usage: DashboardBench URL TOKEN NAME ROUNDS
if (args.Length != 4) { Console.Error.WriteLine("usage: DashboardBench URL TOKEN NAME ROUNDS"); return 2; }
string url = args[0], token = args[1], vm = args[2];
int rounds = int.Parse(args[3], CultureInfo.InvariantCulture);

using var playwright = await Playwright.CreateAsync();
await using var browser = await playwright.Chromium.LaunchAsync(new()
{
    ExecutablePath = "/usr/bin/chromium", Headless = true,
    Args = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update", "--disable-sync", "--no-first-run"],
});
var context = await browser.NewContextAsync(new() { IgnoreHTTPSErrors = true, ViewportSize = new() { Width = 1280, Height = 800 } });
var page = await context.NewPageAsync();
await page.GotoAsync(url);
await page.GetByLabel("Daemon token").FillAsync(token);
await page.GetByRole(AriaRole.Button, new() { Name = "Sign in" }).ClickAsync();
await page.Locator($"tr[data-vm='{vm}']").WaitForAsync();

var load = new List<double>();
var interactive = new List<double>();
for (int i = 0; i < rounds; i++)
{
    var clock = Stopwatch.StartNew();
    await page.GotoAsync(url + "?round=" + i);
    await page.Locator($"tr[data-vm='{vm}'] .state").WaitForAsync();
    load.Add(clock.Elapsed.TotalMilliseconds);
    interactive.Add(await page.EvaluateAsync<double>("performance.getEntriesByType('navigation')[0].domInteractive"));
}

await page.GotoAsync($"{url}#/console/{Uri.EscapeDataString(vm)}");
await page.Locator("#console-state").Filter(new() { HasText = "Connected" }).WaitForAsync();
await page.GetByRole(AriaRole.Group).ClickAsync();
await page.Keyboard.PressAsync("Enter");
await Task.Delay(1000);
// keydown (capture) stamps the press; a MutationObserver on xterm's rows stamps the first change after it.
await page.EvaluateAsync("""
    () => {
      const rows = document.querySelector('.xterm-rows');
      window.benchKey = null;
      document.addEventListener('keydown', () => { window.benchKey = { down: performance.now(), drawn: null }; }, true);
      new MutationObserver(() => { const k = window.benchKey; if (k && k.drawn === null) k.drawn = performance.now(); })
        .observe(rows, { childList: true, subtree: true, characterData: true });
    }
    """);
var echo = new List<double>();
for (int i = 0; i < rounds; i++)
{
    await page.Keyboard.PressAsync(((char)('a' + i % 26)).ToString());
    await page.WaitForFunctionAsync("() => window.benchKey && window.benchKey.drawn !== null", null, new() { Timeout = 30_000 });
    echo.Add(await page.EvaluateAsync<double>("window.benchKey.drawn - window.benchKey.down"));
    await Task.Delay(100); // the cursor's blink also changes the rows: start each key from a quiet screen
}
await page.Keyboard.PressAsync("Control+U");

static string Summary(List<double> values)
{
    var sorted = values.Order().ToList();
    double Median() => sorted.Count % 2 == 1 ? sorted[sorted.Count / 2] : (sorted[sorted.Count / 2 - 1] + sorted[sorted.Count / 2]) / 2;
    return string.Create(CultureInfo.InvariantCulture, $"median {Median():F1} ms, min {sorted[0]:F1}, max {sorted[^1]:F1} (n={sorted.Count})");
}
Console.WriteLine($"load to the VM list drawn: {Summary(load)}");
Console.WriteLine($"domInteractive:            {Summary(interactive)}");
Console.WriteLine($"key to echo drawn:         {Summary(echo)}");
return 0;
