using Sharpvisor.TestGuests.Building;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.TestGuests.Guests;

/// <summary>hello: greets on COM1 and passes. All in ring 0, under 1000 instructions in all (most of them the
/// serial loop, about 14 per character): the smallest boot-to-exit round trip, for start-up benchmarks. The greeting
/// tells how many TSC cycles passed between the first instruction of the PVH entry stub and main.
/// <para>That window holds the entry path's line feed: one read of the UART's line status and one write of its
/// transmit register, two exits to the VMM. In a fresh VMM process they are its first exits, so the figure includes
/// the first-use cost of the VMM's I/O path (for Sharpvisor, the JIT and first binding of the exit handlers and the
/// devices behind them: about 2 to 4 ms, 5 to 8 M cycles, on the PVM host). With the exits warm, or with the line
/// feed removed, Sharpvisor and QEMU read the same (about 0.3 M cycles of emulated ring 0 there).</para></summary>
internal static class HelloGuest
{
    public const string Name = "hello";

    public static TestGuest Create() => new(
        Name,
        "Prints a greeting and PASS: boot, serial output and debug exit, nothing else.",
        TestGuestRequirements.None,
        minimumMemoryMiB: 16,
        _ => GuestImageBuilder.BuildElf(Name, GuestPrivilege.Kernel, Emit));

    private static void Emit(GuestProgram p)
    {
        var a = p.Asm;
        p.ReadTimeStampCounter();
        a.sub(rax, __qword_ptr[p.EntryTimeStampSlot]);
        a.mov(r12, rax);
        p.Print("Hello! PVH entry to main: ");
        p.PrintDecimal(r12);
        p.Print(" tsc cycles\n");
        a.jmp(p.Pass);
    }
}
