using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Engines.Emulator.Memory;
using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Engines.Emulator.Tests.Memory;

/// <summary>A CPU in 64-bit mode with paging on (PAE, PGE, NXE, WP) over 64 MiB, page tables at 1 MiB.</summary>
internal sealed class PagingFixture : IDisposable
{
    public const ulong Cr0Pe = 1, Cr0Et = 0x10, Cr0Wp = 1 << 16, Cr0Pg = 1UL << 31;
    public const ulong Cr4Pse = 1 << 4, Cr4Pae = 1 << 5, Cr4Pge = 1 << 7, Cr4Smep = 1 << 20;
    public const ulong EferLme = 1 << 8, EferLma = 1 << 10, EferNxe = 1 << 11;
    public const ulong TableArea = 0x10_0000;

    public GuestMemory Ram { get; } = GuestMemory.CreateX86(64 << 20);
    public MmioBus Mmio { get; } = new();
    public EmulatedMemory Memory { get; }
    public CpuCore Cpu { get; }
    public PagingUnit Paging { get; }
    public PageTableBuilder Tables { get; }

    public PagingFixture(CodePageTracker? codePages = null)
    {
        Memory = codePages is null
            ? new EmulatedMemory(Ram, Mmio, IdentityTranslator.Instance)
            : new EmulatedMemory(Ram, Mmio, IdentityTranslator.Instance, codePages);
        Cpu = new CpuCore(Memory);
        Tables = new PageTableBuilder(Ram, TableArea);
        Cpu.Cr3 = Tables.Root;
        Cpu.Cr4 = Cr4Pae | Cr4Pge;
        Cpu.Efer = EferLme | EferLma | EferNxe;
        Cpu.Cr0 = Cr0Pg | Cr0Wp | Cr0Et | Cr0Pe;
        Paging = new PagingUnit(Cpu);
        Memory.Translator = Paging;
    }

    /// <summary>Runs <paramref name="access"/>, which must raise #PF, and returns the fault.</summary>
    public static GuestFault PageFault(Action access)
    {
        var fault = Assert.Throws<GuestFault>(access);
        Assert.Equal(GuestFault.PageFault, fault.Vector);
        return fault;
    }

    public void Dispose() => Ram.Dispose();
}
