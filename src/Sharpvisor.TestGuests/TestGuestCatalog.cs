using Sharpvisor.TestGuests.Guests;

namespace Sharpvisor.TestGuests;

/// <summary>Every test guest, by name, and a way to write them all out for QEMU or another VMM.</summary>
public static class TestGuestCatalog
{
    public static IReadOnlyList<TestGuest> All { get; } =
    [
        HelloGuest.Create(),
        IoEchoGuest.Create(),
        Ring3ComputeGuest.Create(),
        LapicTimerGuest.Create(),
        MemoryWriterGuest.Create(),
        PioLoopGuest.Create(),
        SerialEchoGuest.Create(),
        CounterGuest.Create(),
        VirtioGuest.Create(),
    ];

    public static TestGuest Get(string name) =>
        All.FirstOrDefault(g => g.Name == name)
        ?? throw new KeyNotFoundException($"no test guest named '{name}'; there are: {string.Join(", ", All.Select(g => g.Name))}");

    /// <summary>Writes every guest as &lt;name&gt;.elf into <paramref name="directory"/> (created if needed).</summary>
    /// <returns>The paths written, in catalog order.</returns>
    public static IReadOnlyList<string> WriteAll(string directory, TestGuestOptions? options = null)
    {
        Directory.CreateDirectory(directory);
        var paths = new List<string>();
        foreach (var guest in All)
        {
            string path = Path.Combine(directory, guest.Name + ".elf");
            File.WriteAllBytes(path, guest.BuildElf(options));
            paths.Add(path);
        }
        return paths;
    }
}
