using Sharpvisor.TestGuests;
using Sharpvisor.TestGuests.Guests;

namespace Sharpvisor.Vmm.Tests.TestGuests;

public class TestGuestCatalogTests
{
    [Fact]
    public void Catalog_holds_the_guests_with_unique_names_and_their_markers()
    {
        var names = TestGuestCatalog.All.Select(g => g.Name).ToList();
        Assert.Equal(names.Distinct().Count(), names.Count);
        foreach (string required in new[] { "hello", "io-echo", "ring3-compute", "lapic-timer", "memory-writer", "pio-loop", "serial-echo" })
            Assert.Contains(required, names);
        foreach (var guest in TestGuestCatalog.All)
        {
            Assert.Equal("PASS " + guest.Name, guest.ExpectedSerialMarker);
            Assert.Equal("FAIL " + guest.Name + ":", guest.FailureMarker);
            Assert.False(string.IsNullOrWhiteSpace(guest.Description));
            Assert.True(guest.MinimumMemoryMiB >= 16);
            bool needsInput = guest.Requirements.HasFlag(TestGuestRequirements.SerialInput);
            Assert.Equal(needsInput, guest.SerialInput != "");
            Assert.Equal(needsInput ? guest.Name + ": ready" : "", guest.SerialInputPrompt);
        }
        Assert.Equal(TestGuestRequirements.EchoDevice, TestGuestCatalog.Get("io-echo").Requirements);
        Assert.Equal(TestGuestRequirements.LocalApic, TestGuestCatalog.Get("lapic-timer").Requirements);
        var serialEcho = TestGuestCatalog.Get("serial-echo");
        Assert.Equal(TestGuestRequirements.SerialInput, serialEcho.Requirements);
        Assert.Equal("sharpvisor\n", serialEcho.SerialInput);
    }

    [Fact]
    public void Get_names_the_choices_for_an_unknown_guest()
    {
        var e = Assert.Throws<KeyNotFoundException>(() => TestGuestCatalog.Get("no-such-guest"));
        Assert.Contains("hello", e.Message);
    }

    [Fact]
    public void WriteAll_writes_every_guest_as_an_elf_file()
    {
        string dir = Path.Combine(Path.GetTempPath(), "sharpvisor-guests-" + Guid.NewGuid().ToString("N"));
        try
        {
            var paths = TestGuestCatalog.WriteAll(dir);
            Assert.Equal(TestGuestCatalog.All.Count, paths.Count);
            foreach (var guest in TestGuestCatalog.All)
            {
                string path = Path.Combine(dir, guest.Name + ".elf");
                Assert.Contains(path, paths);
                Assert.Equal(guest.BuildElf(), File.ReadAllBytes(path));
            }
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Fact]
    public void Options_change_the_image_and_bad_options_are_refused()
    {
        var guest = TestGuestCatalog.Get("ring3-compute");
        Assert.NotEqual(guest.BuildElf(), guest.BuildElf(new TestGuestOptions { ComputeIterations = 1000 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => guest.BuildElf(new TestGuestOptions { ComputeIterations = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => guest.BuildElf(new TestGuestOptions { ComputeSeed = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => guest.BuildElf(new TestGuestOptions { TimerInitialCount = 0 }));
        Assert.Throws<ArgumentOutOfRangeException>(() => guest.BuildElf(new TestGuestOptions { SerialEchoWaitCycles = 0 }));
        var serialEcho = TestGuestCatalog.Get("serial-echo");
        Assert.NotEqual(serialEcho.BuildElf(), serialEcho.BuildElf(new TestGuestOptions { SerialEchoWaitCycles = 1000 }));
    }

    [Fact]
    public void Xorshift64_reference_matches_a_hand_computed_step()
    {
        // x = 1: x ^= x << 13 -> 0x2001; x ^= x >> 7 -> 0x2041; x ^= x << 17 -> 0x40822041.
        Assert.Equal((0x4082_2041UL, 0x4082_2041UL), Xorshift64Reference.Run(1, 1));
        var (state2, sum2) = Xorshift64Reference.Run(1, 2);
        ulong x = 0x4082_2041UL;
        x ^= x << 13; x ^= x >> 7; x ^= x << 17;
        Assert.Equal(x, state2);
        Assert.Equal(0x4082_2041UL + x, sum2);
        Assert.Equal((5UL, 0UL), Xorshift64Reference.Run(5, 0));
    }
}
