using System.CommandLine;
using System.Text.Json;
using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Engines.Emulator.Memory;
using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Memory;
using Sharpvisor.Machine.Native;

// Nanoseconds per 8-byte EmulatedMemory.Read / Write, the way instruction handlers call them (size in a variable),
// timed in thread CPU time (CLOCK_THREAD_CPUTIME_ID) so that a shared, overloaded host inflates the figures less.
// "hit" cases cycle over 64 pages, which stay in the TLB; "walk" cycles over 4,096 pages mapped 4 KiB each, which
// evicts every slot of the direct-mapped 1,024-entry TLB, so every access walks the four levels. Rounds alternate,
// medians reported (the loops are static methods so that, from the second round on, they run fully optimized).
var accessesOption = new Option<long>("--accesses") { Description = "Accesses per case and round.", DefaultValueFactory = _ => 20_000_000 };
var roundsOption = new Option<int>("--rounds") { Description = "Rounds, alternating the cases.", DefaultValueFactory = _ => 5 };
var parsed = new RootCommand("Nanoseconds per EmulatedMemory read and write, TLB hit and page walk.") { accessesOption, roundsOption }.Parse(args);
if (parsed.Action is not null) return parsed.Invoke(); // --help, or bad arguments (reported)
long accesses = parsed.GetValue(accessesOption);
int rounds = parsed.GetValue(roundsOption);

const ulong Linear = 0x7F00_0000_0000, Physical = 0x100_0000, TableBase = 0x40_0000;
using var ram = GuestMemory.CreateX86(64 << 20);

var identity = new EmulatedMemory(ram, new MmioBus(), IdentityTranslator.Instance);
var windows = new WindowTranslator();
windows.Map(Linear, 4096UL * 4096, Physical);
var windowed = new EmulatedMemory(ram, new MmioBus(), windows);
var paged = new EmulatedMemory(ram, new MmioBus(), IdentityTranslator.Instance);
var cpu = new CpuCore(paged);
BuildPageTables(ram, cpu);
var paging = new PagingUnit(cpu);
paged.Translator = paging;

var cases = new (string Name, Func<double> Run)[]
{
    ("identity read hit", () => ReadLoop(identity, Physical, 64, accesses)),
    ("identity write hit", () => WriteLoop(identity, Physical, 64, accesses)),
    ("window read", () => ReadLoop(windowed, Linear, 64, accesses)),
    ("window write", () => WriteLoop(windowed, Linear, 64, accesses)),
    ("paging read hit", () => ReadLoop(paged, Linear, 64, accesses)),
    ("paging write hit", () => WriteLoop(paged, Linear, 64, accesses)),
    ("paging read walk", () => ReadLoop(paged, Linear, 4096, accesses)),
    ("paging write walk", () => WriteLoop(paged, Linear, 4096, accesses)),
};
var results = cases.ToDictionary(c => c.Name, _ => new List<double>());
for (int round = 0; round < rounds; round++)
    foreach (var (name, run) in cases)
        results[name].Add(run());

Console.WriteLine($"{"case",-22} {"ns/access",10}");
foreach (var (name, _) in cases) Console.WriteLine($"{name,-22} {Median(results[name]),10:0.00}");
Console.WriteLine(JsonSerializer.Serialize(new
{
    bench = "memory-access", date = DateTime.UtcNow.ToString("yyyy-MM-dd"), accesses, rounds,
    ns_per_access = cases.ToDictionary(c => c.Name, c => Math.Round(Median(results[c.Name]), 2)),
    walks = paging.Walks,
}));
return 0;

static double ReadLoop(EmulatedMemory memory, ulong start, int pages, long accesses)
{
    int size = Size.Value;
    ulong sum = 0;
    ulong mask = (ulong)pages - 1;
    long started = Libc.ThreadCpuTimeNanoseconds();
    for (long i = 0; i < accesses; i++)
        sum += memory.Read(start + ((ulong)i & mask) * 4096 + ((ulong)i & 0x1F8), size);
    double ns = (double)(Libc.ThreadCpuTimeNanoseconds() - started) / accesses;
    Size.Sink += sum;
    return ns;
}

static double WriteLoop(EmulatedMemory memory, ulong start, int pages, long accesses)
{
    int size = Size.Value;
    ulong mask = (ulong)pages - 1;
    long started = Libc.ThreadCpuTimeNanoseconds();
    for (long i = 0; i < accesses; i++)
        memory.Write(start + ((ulong)i & mask) * 4096 + ((ulong)i & 0x1F8), size, (ulong)i);
    return (double)(Libc.ThreadCpuTimeNanoseconds() - started) / accesses;
}

// 4,096 4 KiB pages at Linear -> Physical: one PML4, PDPT and PD, eight page tables, all entries A and D already set.
static void BuildPageTables(GuestMemory ram, CpuCore cpu)
{
    const ulong P = 1, W = 2, A = 0x20, D = 0x40;
    ulong pml4 = TableBase, pdpt = TableBase + 0x1000, pd = TableBase + 0x2000, pt = TableBase + 0x3000;
    ram.WriteUInt64(pml4 + ((Linear >> 39) & 511) * 8, pdpt | P | W | A);
    ram.WriteUInt64(pdpt + ((Linear >> 30) & 511) * 8, pd | P | W | A);
    for (ulong table = 0; table < 8; table++)
    {
        ram.WriteUInt64(pd + (((Linear >> 21) & 511) + table) * 8, pt + table * 0x1000 | P | W | A);
        for (ulong i = 0; i < 512; i++)
            ram.WriteUInt64(pt + table * 0x1000 + i * 8, Physical + (table * 512 + i) * 0x1000 | P | W | A | D);
    }
    cpu.Cr3 = pml4;
    cpu.Cr4 = 1 << 5; // PAE
    cpu.Efer = (1 << 8) | (1 << 10); // LME, LMA
    cpu.Cr0 = 0x8001_0011; // PG, WP, ET, PE
}

static double Median(List<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
}


/// <summary>The access size, in a field the JIT cannot fold, and a sink for read results.</summary>
internal static class Size
{
    public static int Value = 8;
    public static ulong Sink;
}
