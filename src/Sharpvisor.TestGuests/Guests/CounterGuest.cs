using Sharpvisor.TestGuests.Building;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.TestGuests.Guests;

/// <summary>
/// counter: a guest whose progress can be checked across pause, snapshot and restore. In ring 0 it counts 1, 2, 3 ...
/// and prints "tick N" for each; the count lives in guest RAM, and tick N also stores N in page N mod 64 of a 256 KiB
/// buffer at 16 MiB and checks that page (N - 1) mod 64 still holds N - 1, so a restore that lost or mixed up memory
/// fails. It passes after ticks= ticks (default 50; 0 counts until stopped), spinning spin= loop iterations between
/// ticks (default 20000). A restored copy must go on with the next number: no gap, no repeat.
/// </summary>
internal static class CounterGuest
{
    public const string Name = "counter";
    public const ulong BufferAddress = 16UL << 20;
    public const int BufferPages = 64;

    public static TestGuest Create() => new(
        Name,
        "Counts ticks on COM1 with its count and a page pattern in RAM: pause, snapshot and restore must continue it exactly.",
        TestGuestRequirements.None,
        minimumMemoryMiB: 32,
        _ => GuestImageBuilder.BuildElf(Name, GuestPrivilege.Kernel, Emit));

    private static void Emit(GuestProgram p)
    {
        var a = p.Asm;
        ulong count = p.AllocateData(8);
        var haveTicks = a.CreateLabel();
        var haveSpin = a.CreateLabel();
        var loop = a.CreateLabel();
        var checked_ = a.CreateLabel();
        var unlimited = a.CreateLabel();
        var spin = a.CreateLabel();
        var lost = a.CreateLabel();

        a.lea(rdi, __[p.Text("ticks=")]);
        a.call(p.CommandLineValue);
        a.test(edx, edx);
        a.jnz(haveTicks);
        a.mov(eax, 50);
        a.Label(ref haveTicks);
        a.mov(r12, rax);                                   // ticks to count (0: forever)
        a.lea(rdi, __[p.Text("spin=")]);
        a.call(p.CommandLineValue);
        a.test(edx, edx);
        a.jnz(haveSpin);
        a.mov(eax, 20_000);
        a.Label(ref haveSpin);
        a.mov(r13, rax);                                   // spin iterations between ticks

        a.Label(ref loop);
        a.mov(rbx, __qword_ptr[count]);
        a.test(rbx, rbx);
        a.jz(checked_);
        // Page (N - 1) mod 64 must hold N - 1, stored by the tick before.
        a.mov(rax, rbx);
        a.and(eax, BufferPages - 1);
        a.shl(rax, 12);
        a.mov(rcx, BufferAddress);
        a.cmp(__qword_ptr[rcx + rax], rbx);
        a.jne(lost);
        a.Label(ref checked_);
        a.inc(rbx);
        a.mov(__qword_ptr[count], rbx);
        a.mov(rax, rbx);
        a.and(eax, BufferPages - 1);
        a.shl(rax, 12);
        a.mov(rcx, BufferAddress);
        a.mov(__qword_ptr[rcx + rax], rbx);
        p.Print("tick ");
        p.PrintDecimal(rbx);
        a.call(p.NewLine);
        a.test(r12, r12);
        a.jz(unlimited);
        a.cmp(rbx, r12);
        a.jae(p.Pass);
        a.Label(ref unlimited);
        a.mov(rcx, r13);
        a.test(rcx, rcx);
        a.jz(loop);
        a.Label(ref spin);
        a.dec(rcx);
        a.jnz(spin);
        a.jmp(loop);

        a.Label(ref lost);
        a.call(p.FailBegin);
        p.Print("buffer page of tick ");
        p.PrintDecimal(rbx);
        p.Print(" lost its value");
        a.call(p.FailEnd);
    }
}
