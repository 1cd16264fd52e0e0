using System.Text.Json;
using Sharpvisor.TestGuests;

namespace Sharpvisor.Cli.Tests;

public class RunCommandTests : IDisposable
{
    private readonly string _guests = Directory.CreateTempSubdirectory("sharpvisor-cli-").FullName;

    public RunCommandTests() => TestGuestCatalog.WriteAll(_guests);

    public void Dispose() => Directory.Delete(_guests, recursive: true);

    private string Guest(string name) => Path.Combine(_guests, name + ".elf");

    [SkippableTheory]
    [InlineData("run --memory 12X", "is not a memory size")]
    [InlineData("run --vcpus 2 --topology cores=2", "not both")]
    [InlineData("run --topology cores=0", "N >= 1")]
    [InlineData("run --engine quantum", "quantum")]
    [InlineData("run --serial tcp:1234", "bad serial target")]
    [InlineData("run --kernel /nonexistent/bzImage", "does not exist")]
    [InlineData("frobnicate", "frobnicate")]
    public void BadArgumentsExitWithCode2AndSayWhy(string arguments, string expected)
    {
        var result = SharpvisorProcess.Run(arguments);
        Assert.Equal(2, result.ExitCode);
        Assert.Contains(expected, result.Stderr);
    }

    [SkippableFact]
    public void MemoryBeyondTheOvercommitLimitIsRefused()
    {
        var result = SharpvisorProcess.Run($"run --kernel {Guest("hello")} --test-devices --memory 100T");
        Assert.Equal(2, result.ExitCode);
        Assert.Contains("150%", result.Stderr);
    }

    [SkippableTheory]
    [InlineData("--help")]
    [InlineData("run --help")]
    [InlineData("host-check --help")]
    [InlineData("image --help")]
    [InlineData("image pull --help")]
    [InlineData("test-guests --help")]
    public void EveryVerbHasHelp(string arguments)
    {
        var result = SharpvisorProcess.Run(arguments);
        Assert.Equal(0, result.ExitCode);
        Assert.Contains("Usage:", result.Stdout);
    }

    [SkippableTheory]
    [InlineData("emulator")]
    [InlineData("kvm")]
    public void HelloGuestBootsAndPowersOff(string engine)
    {
        HostRequires.Engine(engine);
        var result = SharpvisorProcess.Run($"run --kernel {Guest("hello")} --test-devices --engine {engine}");
        Assert.True(result.ExitCode == 0, result.Stderr);
        Assert.Contains("PASS hello", result.Stdout);
        Assert.Contains($"engine {engine}", result.Stderr);
    }

    [Fact]
    public void AMissingKvmDeviceNamedBySharpvisorKvmDeviceActsAsAHostWithoutKvm()
    {
        // The switch that lets any host check the no-KVM path: kvm is refused with the reason, auto takes the emulator.
        var noKvm = new Dictionary<string, string> { ["SHARPVISOR_KVM_DEVICE"] = "/nonexistent/kvm" };
        var kvm = SharpvisorProcess.Run($"run --kernel {Guest("hello")} --test-devices --engine kvm", environment: noKvm);
        Assert.Equal(4, kvm.ExitCode);
        Assert.Contains("/nonexistent/kvm does not exist", kvm.Stderr);
        var auto = SharpvisorProcess.Run($"run --kernel {Guest("hello")} --test-devices", environment: noKvm);
        Assert.True(auto.ExitCode == 0, auto.Stderr);
        Assert.Contains("engine auto chose the emulator because /nonexistent/kvm does not exist", auto.Stderr);
        Assert.Contains("PASS hello", auto.Stdout);
    }

    [SkippableFact]
    public void PipedInputReachesTheGuestsSerialPort()
    {
        // As in: printf 'sharpvisor\n' | sharpvisor run --kernel serial-echo.elf --test-devices
        var result = SharpvisorProcess.Run($"run --kernel {Guest("serial-echo")} --test-devices", stdin: "sharpvisor\n");
        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}\n{result.Stdout}\n{result.Stderr}");
        var lines = result.Stdout.Split('\n').Select(l => l.Trim()).ToList();
        Assert.Contains("ECHO sharpvisor", lines);
        Assert.Contains("PASS serial-echo", lines);
    }

    [SkippableFact]
    public void OtherPipedInputMakesTheGuestReportFailure()
    {
        var result = SharpvisorProcess.Run($"run --kernel {Guest("serial-echo")} --test-devices", stdin: "not it\n");
        Assert.Equal(5, result.ExitCode);
        Assert.Contains("ECHO not it", result.Stdout);
        Assert.Contains("FAIL serial-echo: read the line 'not it', expected 'sharpvisor'", result.Stdout);
        Assert.DoesNotContain("PASS serial-echo", result.Stdout);
    }

    [SkippableFact]
    public void AGuestThatCannotStopCleanlyIsReportedAsCrashed()
    {
        // Without the test devices io-echo reads all ones and says FAIL; with no debug-exit port to end on, it stops
        // through its halt gate (int 0x30 -> cli; hlt). This KVM (no VT-x/AMD-V) cannot emulate that ring-0 int and
        // stops; the VMM reports it as a crash (exit code 1) with the registers and the instruction. With hardware
        // virtualization (and on the emulator) the guest sits halted with interrupts off, as on QEMU.
        HostRequires.KvmWithoutHardwareVirtualization();
        var result = SharpvisorProcess.Run($"run --kernel {Guest("io-echo")} --engine kvm");
        Assert.Contains("FAIL io-echo", result.Stdout);
        Assert.Equal(1, result.ExitCode);
        Assert.Contains("RIP", result.Stderr);
        Assert.Contains("instruction:", result.Stderr);
    }

    [SkippableFact]
    public void PipedCommandsReachTheDefaultGuestsShellOnTheEngineAutoChooses()
    {
        // The README's command: printf 'uname -r\npoweroff -f\n' | ./sharpvisor run. The input is typed before the
        // kernel has set up its serial port; it is held until the guest's ready line, so none of it is lost. Auto
        // picks KVM where it can run Linux (VT-x/AMD-V), the emulator elsewhere (no KVM, or PVM's KVM).
        var result = SharpvisorProcess.Run("run --memory 256M", stdin: "uname -r\npoweroff -f\n", timeoutSeconds: 900);
        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}\n{result.Stdout}\n{result.Stderr}");
        Assert.Contains(HostRequires.WhyNoLinuxOnKvm() is null ? "engine auto chose kvm" : "engine auto chose the emulator", result.Stderr);
        Assert.Matches(@"(?m)^\d+\.\d+\.\d+-\d+-cloud-amd64\r?$", result.Stdout);
    }

    [SkippableFact]
    public void DebiansKernelBootsToItsShellOnKvmAnswersAndPowersOff()
    {
        // The default path of users whose CPU has VT-x or AMD-V: Linux on the kvm engine, asked for by name.
        HostRequires.LinuxOnKvm();
        var result = SharpvisorProcess.Run("run --engine kvm --memory 256M --vcpus 2",
            stdin: "echo KVM-$((6*7))\ncat /proc/cpuinfo | grep -c ^processor\npoweroff -f\n", timeoutSeconds: 300);
        Assert.True(result.ExitCode == 0, $"exit {result.ExitCode}\n{result.Stdout}\n{result.Stderr}");
        Assert.Contains("engine kvm", result.Stderr);
        Assert.Contains("KVM-42", result.Stdout);
        Assert.Matches(@"(?m)^2\r?$", result.Stdout);
    }

    [SkippableFact]
    public void CtrlAXQuitsTheConsoleOnATerminal()
    {
        var result = SharpvisorProcess.Run($"run --kernel {Guest("memory-writer")} --cmdline seconds=0 --test-devices",
            wrapWithScript: "\u0001x");
        Assert.Equal(6, result.ExitCode);
        Assert.Contains("Ctrl-A x", result.Stdout + result.Stderr);
    }

    [SkippableFact]
    public void HostCheckJsonListsEveryGuestOnBothEngines()
    {
        var result = SharpvisorProcess.Run("host-check --json", timeoutSeconds: 600);
        using var json = JsonDocument.Parse(result.Stdout);
        var engines = json.RootElement.GetProperty("Engines").EnumerateArray().Select(e => e.GetProperty("Kind").GetString()!).ToArray();
        Assert.Equal(["kvm", "emulator"], engines);
        // Without KVM here the table says why and has no kvm rows; with it, every guest runs there too.
        var kvm = json.RootElement.GetProperty("Engines")[0];
        Assert.Equal(HostRequires.WhyNoKvm() is null, kvm.GetProperty("CanRun").GetBoolean());
        Assert.False(string.IsNullOrWhiteSpace(kvm.GetProperty("Reason").GetString()));
        var rows = json.RootElement.GetProperty("Results").EnumerateArray().ToArray();
        Assert.Equal(HostRequires.WhyNoKvm() is null ? TestGuestCatalog.All.Count : 0, rows.Count(r => r.GetProperty("Engine").GetString() == "kvm"));
        Assert.Equal(TestGuestCatalog.All.Count, rows.Count(r => r.GetProperty("Engine").GetString() == "emulator"));
        Assert.All(rows, r => Assert.True(r.GetProperty("Passed").GetBoolean(), r.GetRawText()));
        Assert.Equal(0, result.ExitCode);
    }
}
