using System.Text;
using Sharpvisor.Engines.Emulator;
using Sharpvisor.Machine.Cpu;
using Sharpvisor.Vmm.Configuration;
using Sharpvisor.Vmm.Images;
using Sharpvisor.Vmm.Lifecycle;
using Sharpvisor.Vmm.Serial;
using Xunit.Abstractions;

namespace Sharpvisor.Vmm.Tests.Serial;

/// <summary>
/// Debian's kernel with a one-line init that prints a 20,000-byte line and powers off at once, its console on a
/// non-blocking one-page pipe read slowly while busy threads load the host: the whole line and the kernel's
/// "reboot: Power down" reach the reader before the VM's run ends (the issue: they came out as their first and last
/// bytes, W ... n).
/// </summary>
public sealed class LinuxOutputAtPowerOffTests(ITestOutputHelper output)
{
    private static readonly TimeSpan Timeout = TimeSpan.FromMinutes(5);
    private const int LineLength = 20_000;

    [Fact]
    public async Task A_long_line_written_just_before_power_off_reaches_a_slow_non_blocking_stdout_whole()
    {
        var image = await DefaultGuestImage.EnsureAsync(new Progress<string>(output.WriteLine), CancellationToken.None);
        string line = "W" + new string('0', LineLength - 2) + "n";
        var config = new VmConfig
        {
            KernelPath = image.KernelPath, InitrdPath = image.InitrdPath, MemoryBytes = 256UL << 20, Topology = CpuTopology.Flat(1),
            CommandLine = $"console=ttyS0 panic=-1 quiet rdinit=/bin/sh -- -c \"printf 'W%0{LineLength - 2}dn\\n' 0; poweroff -f\"",
            NoReboot = true, EntropyDevice = false,
        };
        using var pipe = new NonBlockingPipe();
        var read = pipe.ReadSlowly(256, TimeSpan.FromMilliseconds(10));
        using var load = new CancellationTokenSource();
        var busy = Enumerable.Range(0, 2).Select(_ => Task.Factory.StartNew(() =>
        {
            while (!load.IsCancellationRequested) Thread.SpinWait(1000);
        }, TaskCreationOptions.LongRunning)).ToArray();
        VmRunResult result;
        try
        {
            using var vm = new Vm(config, new EmulatorEngine(), new StreamSerialBackend(pipe.Writer, null, escapes: false));
            result = await Task.Run(vm.Run).WaitAsync(Timeout);
        }
        finally
        {
            load.Cancel();
            await Task.WhenAll(busy);
        }
        pipe.Writer.Dispose();
        string text = Encoding.ASCII.GetString(await read.WaitAsync(Timeout));
        output.WriteLine($"{result.Outcome} after {result.Elapsed.TotalSeconds:0.0} s; {text.Length} bytes read:");
        output.WriteLine(text.Length > 600 ? text[..300] + " ... " + text[^300..] : text);
        Assert.Equal(VmOutcome.PoweredOff, result.Outcome);
        Assert.Contains(line + "\r\n", text);
        Assert.Contains("reboot: Power down\r\n", text);
    }
}
