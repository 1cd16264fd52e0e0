using Sharpvisor.TestGuests;
using Xunit.Abstractions;

namespace Sharpvisor.Vmm.Tests.TestGuests;

/// <summary>Every guest booted under QEMU TCG, our oracle: it must print its PASS line and exit through debug-exit.</summary>
public class QemuGuestTests(ITestOutputHelper log)
{
    public static TheoryData<string> GuestNames() => GuestElfLayoutTests.GuestNames();

    private QemuRunner.Result Run(TestGuest guest, string machine = "pc", string? append = null, bool pcTestdev = true,
                                  TestGuestOptions? options = null, string? serialInput = null, bool waitForPrompt = true)
    {
        // A guest that drives virtio devices gets them, on a zeroed scratch disk.
        string? disk = guest.Requirements.HasFlag(TestGuestRequirements.VirtioBlock)
            ? Path.Combine(Path.GetTempPath(), $"sharpvisor-disk-{Guid.NewGuid():N}.img") : null;
        if (disk is not null) File.WriteAllBytes(disk, new byte[Sharpvisor.TestGuests.Guests.VirtioGuestDisk.Bytes]);
        QemuRunner.Result result;
        try
        {
            result = QemuRunner.Run(guest.BuildElf(options), machine, append, pcTestdev,
                serialInput: serialInput ?? guest.SerialInput, inputPrompt: waitForPrompt ? guest.SerialInputPrompt : "",
                extraArguments: guest.Requirements.HasFlag(TestGuestRequirements.VirtioEntropy) ? QemuRunner.VirtioArguments(disk) : null);
        }
        finally
        {
            if (disk is not null) File.Delete(disk);
        }
        log.WriteLine($"{guest.Name} on {machine}: exit {result.ExitCode} after {result.Elapsed.TotalSeconds:F2} s");
        log.WriteLine(result.Output);
        return result;
    }

    private static void AssertPassed(TestGuest guest, QemuRunner.Result result)
    {
        Assert.Contains(guest.ExpectedSerialMarker, result.Lines.Select(l => l.Trim()));
        Assert.DoesNotContain(result.Lines, l => l.Contains(TestGuestProtocol.FailPrefix + guest.Name));
        Assert.Equal(TestGuestProtocol.ExitCodeOnPass, result.ExitCode);
    }

    private static string FailureLine(TestGuest guest, QemuRunner.Result result)
    {
        Assert.Equal(TestGuestProtocol.ExitCodeOnFail, result.ExitCode);
        Assert.DoesNotContain(guest.ExpectedSerialMarker, result.Lines.Select(l => l.Trim()));
        return Assert.Single(result.Lines, l => l.Contains(guest.FailureMarker));
    }

    [SkippableTheory, MemberData(nameof(GuestNames))]
    public void Guest_passes_on_the_pc_machine(string name)
    {
        var guest = TestGuestCatalog.Get(name);
        AssertPassed(guest, Run(guest));
    }

    [SkippableTheory]
    [InlineData("hello")]
    [InlineData("pio-loop")]
    [InlineData("io-echo")]
    [InlineData("serial-echo")]
    public void Guest_passes_on_the_microvm_machine(string name)
    {
        var guest = TestGuestCatalog.Get(name);
        AssertPassed(guest, Run(guest, machine: "microvm"));
    }

    [SkippableFact]
    public void Hello_greets_and_reports_the_entry_cost()
    {
        var result = Run(TestGuestCatalog.Get("hello"));
        Assert.Contains(result.Lines, l => l.StartsWith("Hello! PVH entry to main: ") && l.EndsWith(" tsc cycles"));
    }

    [SkippableFact]
    public void Io_echo_fails_without_the_echo_device()
    {
        var guest = TestGuestCatalog.Get("io-echo");
        string line = FailureLine(guest, Run(guest, pcTestdev: false));
        Assert.Contains("step 1 (port read 0xe0 width 4)", line);
    }

    [SkippableFact]
    public void Ring3_compute_reports_its_iteration_count_and_result()
    {
        var guest = TestGuestCatalog.Get("ring3-compute");
        var options = new TestGuestOptions { ComputeIterations = 12_345_678, ComputeSeed = 42 };
        var result = Run(guest, options: options);
        AssertPassed(guest, result);
        var (state, sum) = Sharpvisor.TestGuests.Guests.Xorshift64Reference.Run(42, 12_345_678);
        Assert.Contains("ring3-compute: 12345678 iterations", result.Lines);
        Assert.Contains(result.Lines, l => l.StartsWith($"ring3-compute: state 0x{state:x} sum 0x{sum:x} tsc cycles "));
    }

    [SkippableFact]
    public void Lapic_timer_counts_the_requested_ticks()
    {
        var guest = TestGuestCatalog.Get("lapic-timer");
        var result = Run(guest, options: new TestGuestOptions { TimerTicks = 7, TimerInitialCount = 100_000 });
        AssertPassed(guest, result);
        Assert.Contains(result.Lines, l => l.StartsWith("lapic-timer: 7 ticks, "));
    }

    [SkippableFact]
    public void Memory_writer_takes_its_parameters_from_the_command_line()
    {
        var guest = TestGuestCatalog.Get("memory-writer");
        var result = Run(guest, append: "console=none pages_per_sec=3000 seconds=1 buffer_mib=4 tsc_khz=2000000");
        AssertPassed(guest, result);
        Assert.Contains("memory-writer: pages_per_sec 3000 seconds 1 buffer_mib 4 tsc_khz 2000000 (command line)", result.Lines);
        Assert.Contains("ROUND 1 writes 3000", result.Lines);
        Assert.DoesNotContain(result.Lines, l => l.StartsWith("ROUND 2"));
        Assert.Contains("memory-writer: verified 1024 pages", result.Lines);
    }

    [SkippableFact]
    public void Memory_writer_calibrates_against_the_rtc_where_port_0x61_is_missing()
    {
        // QEMU's microvm under TCG has a PIT but no port 0x61 to watch it through; the RTC is the fallback.
        var guest = TestGuestCatalog.Get("memory-writer");
        var result = Run(guest, machine: "microvm", append: "pages_per_sec=100 seconds=1 buffer_mib=1");
        AssertPassed(guest, result);
        string line = Assert.Single(result.Lines, l => l.StartsWith("memory-writer: pages_per_sec 100 seconds 1 buffer_mib 1 tsc_khz "));
        Assert.EndsWith("(rtc)", line);
    }

    [SkippableFact]
    public void Memory_writer_refuses_a_bad_buffer_size()
    {
        var guest = TestGuestCatalog.Get("memory-writer");
        string line = FailureLine(guest, Run(guest, append: "buffer_mib=0"));
        Assert.Equal("FAIL memory-writer: buffer_mib must be 1-2048", line.Trim());
    }

    [SkippableFact]
    public void Pio_loop_takes_its_iteration_count_from_the_command_line()
    {
        var guest = TestGuestCatalog.Get("pio-loop");
        var result = Run(guest, append: "iterations=777");
        AssertPassed(guest, result);
        Assert.Contains("pio-loop: 777 iterations", result.Lines);
    }

    [SkippableTheory]
    [InlineData("io-echo", "")]
    [InlineData("ring3-compute", "")]
    [InlineData("memory-writer", "pages_per_sec=500 seconds=1 buffer_mib=1")]
    public void Ring3_guests_pass_when_every_port_access_traps_as_on_PVM(string name, string append)
    {
        var guest = TestGuestCatalog.Get(name);
        var result = Run(guest, append: append, options: new TestGuestOptions { UserIopl = 0, ComputeIterations = 1000 });
        AssertPassed(guest, result);
        if (name == "io-echo")
        {
            string line = Assert.Single(result.Lines, l => l.Contains("port accesses emulated after #GP: "));
            long emulated = long.Parse(line[(line.LastIndexOf(' ') + 1)..]);
            Assert.True(emulated >= 75, $"only {emulated} port accesses went through the #GP emulation");
        }
        if (name == "memory-writer")
            Assert.Contains(result.Lines, l => l.EndsWith("(pit)"));   // calibrated with in/out imm8 from ring 3
    }

    [SkippableFact]
    public void Io_echo_passes_with_full_port_access()
    {
        var guest = TestGuestCatalog.Get("io-echo");
        var result = Run(guest);
        AssertPassed(guest, result);
        Assert.Contains(result.Lines, l => l.EndsWith("port accesses emulated after #GP: 0"));
    }

    [SkippableFact]
    public void Serial_echo_echoes_the_typed_line_and_passes()
    {
        var guest = TestGuestCatalog.Get("serial-echo");
        var result = Run(guest, serialInput: "sharpvisor\n");
        AssertPassed(guest, result);
        var lines = result.Lines.Select(l => l.Trim()).ToList();
        int ready = lines.IndexOf("serial-echo: ready");
        Assert.True(ready >= 0, "no prompt line");
        Assert.Equal(["ECHO sharpvisor", "PASS serial-echo"], lines.Skip(ready + 1).Take(2));
    }

    [SkippableFact]
    public void Serial_echo_reads_input_that_arrived_before_it_started()
    {
        // microvm has no firmware that reads COM1, so input sent at once waits in the UART for the guest.
        var guest = TestGuestCatalog.Get("serial-echo");
        AssertPassed(guest, Run(guest, machine: "microvm", waitForPrompt: false));
    }

    [SkippableFact]
    public void Serial_echo_fails_on_another_line_and_shows_it()
    {
        var guest = TestGuestCatalog.Get("serial-echo");
        var result = Run(guest, serialInput: "hello there\nsharpvisor\n");
        Assert.Contains("ECHO hello there", result.Lines);
        Assert.Equal("FAIL serial-echo: read the line 'hello there', expected 'sharpvisor'", FailureLine(guest, result).Trim());
    }

    [SkippableTheory]
    [InlineData("sharpvisorx\n")]
    [InlineData("sharpviso\n")]
    [InlineData("\n")]
    public void Serial_echo_accepts_only_the_exact_line(string input)
    {
        var guest = TestGuestCatalog.Get("serial-echo");
        string line = FailureLine(guest, Run(guest, serialInput: input));
        Assert.Contains($"read the line '{input.TrimEnd('\n')}'", line);
    }

    [SkippableFact]
    public void Serial_echo_fails_clearly_when_no_line_comes()
    {
        // Bytes without a line feed, then silence: the TSC budget (about a second, so that a loaded host still delivers the
        // bytes that are typed once the prompt shows) ends the wait.
        var guest = TestGuestCatalog.Get("serial-echo");
        var result = Run(guest, serialInput: "sharp", options: new TestGuestOptions { SerialEchoWaitCycles = 3_000_000_000 });
        Assert.Equal("FAIL serial-echo: no line feed on COM1 within 3000000000 tsc cycles; 5 bytes read before",
            FailureLine(guest, result).Trim());
        Assert.DoesNotContain(result.Lines, l => l.StartsWith("ECHO"));
    }

    [SkippableFact]
    public void Serial_echo_refuses_an_overlong_line()
    {
        var guest = TestGuestCatalog.Get("serial-echo");
        string line = FailureLine(guest, Run(guest, serialInput: new string('x', 200) + "\n"));
        Assert.Equal("FAIL serial-echo: line longer than 128 bytes", line.Trim());
    }
}
