using Sharpvisor.TestGuests;

namespace Sharpvisor.Vmm.Tests.Migration;

/// <summary>The test guests as ELF files in the temp folder, built once per test run.</summary>
internal static class MigrationGuests
{
    private static readonly Lazy<string> Counter = new(() => Write("counter"));
    private static readonly Lazy<string> MemoryWriter = new(() => Write("memory-writer"));

    public static string CounterPath => Counter.Value;
    public static string MemoryWriterPath => MemoryWriter.Value;

    private static string Write(string name)
    {
        string path = System.IO.Path.Combine(System.IO.Path.GetTempPath(), $"sharpvisor-migration-{name}-{Environment.ProcessId}.elf");
        File.WriteAllBytes(path, TestGuestCatalog.Get(name).BuildElf());
        return path;
    }
}
