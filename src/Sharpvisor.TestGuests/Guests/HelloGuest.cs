using Sharpvisor.TestGuests.Building;

namespace Sharpvisor.TestGuests.Guests;

/// <summary>hello: greets on COM1 and passes. All in ring 0, about 400 instructions after the entry: the smallest
/// boot-to-exit round trip, for start-up benchmarks.</summary>
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
        p.Print("Hello from a Sharpvisor test guest\n");
        p.Asm.jmp(p.Pass);
    }
}
