using Sharpvisor.TestGuests.Building;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.TestGuests.Guests;

/// <summary>hello: greets on COM1 and passes. All in ring 0, under 1000 instructions in all (most of them the
/// serial loop, about 14 per character): the smallest boot-to-exit round trip, for start-up benchmarks. The greeting
/// tells how many TSC cycles passed between the first instruction of the PVH entry stub and main.</summary>
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
