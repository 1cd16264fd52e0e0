using Sharpvisor.TestGuests.Building;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.TestGuests.Guests;

/// <summary>
/// ring3-compute: drops to ring 3 and runs xorshift64 for a build-time number of steps, then compares the final
/// state and the sum of all states with what <see cref="Xorshift64Reference"/> computed on the host. A CPU-bound
/// loop with no exits at all; it prints the step count and the TSC cycles the loop took.
/// </summary>
internal static class Ring3ComputeGuest
{
    public const string Name = "ring3-compute";

    public static TestGuest Create() => new(
        Name,
        "In ring 3, steps xorshift64 a configurable number of times and checks the result against the host's.",
        TestGuestRequirements.None,
        minimumMemoryMiB: 16,
        options => GuestImageBuilder.BuildElf(Name, GuestPrivilege.User, p => Emit(p, options), options.UserIopl));

    private static void Emit(GuestProgram p, TestGuestOptions options)
    {
        var a = p.Asm;
        var (expectedState, expectedSum) = Xorshift64Reference.Run(options.ComputeSeed, options.ComputeIterations);
        var step = a.CreateLabel();
        var mismatch = a.CreateLabel();

        p.Print($"{Name}: {options.ComputeIterations} iterations\n");

        p.ReadTimeStampCounter();
        a.mov(r14, rax);
        a.mov(rax, options.ComputeSeed);
        a.mov(rcx, options.ComputeIterations);
        a.xor(r8d, r8d);
        a.Label(ref step);
        a.mov(rdx, rax);
        a.shl(rdx, 13);
        a.xor(rax, rdx);
        a.mov(rdx, rax);
        a.shr(rdx, 7);
        a.xor(rax, rdx);
        a.mov(rdx, rax);
        a.shl(rdx, 17);
        a.xor(rax, rdx);
        a.add(r8, rax);
        a.dec(rcx);
        a.jnz(step);
        a.mov(r12, rax);
        a.mov(r13, r8);
        p.ReadTimeStampCounter();
        a.sub(rax, r14);
        a.mov(r14, rax);

        p.Print($"{Name}: state ");
        p.PrintHex(r12);
        p.Print(" sum ");
        p.PrintHex(r13);
        p.Print(" tsc cycles ");
        p.PrintDecimal(r14);
        a.call(p.NewLine);

        a.mov(rax, expectedState);
        a.cmp(r12, rax);
        a.jne(mismatch);
        a.mov(rax, expectedSum);
        a.cmp(r13, rax);
        a.jne(mismatch);
        a.jmp(p.Pass);

        a.Label(ref mismatch);
        a.call(p.FailBegin);
        p.Print($"expected state 0x{expectedState:x} sum 0x{expectedSum:x}");
        a.call(p.FailEnd);
    }
}
