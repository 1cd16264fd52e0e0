using Sharpvisor.TestGuests.Building;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.TestGuests.Guests;

/// <summary>
/// pio-loop: an exit-latency benchmark. Writes a changing 32-bit value to the echo port and reads it back, N times
/// (two VM exits per iteration), checking every read; prints N and the TSC cycles per iteration.
/// N comes from iterations= on the command line, else from the build options.
/// <para>It runs in ring 0, 8 instructions per iteration: on KVM-on-PVM a ring-3 port access costs a #GP round trip
/// through the emulating handler (measured about 160 µs per iteration there, against 23 µs in ring 0), which would
/// swamp the exit cost being measured. On VMX/SVM hosts the ring makes no difference to an exit.</para>
/// </summary>
internal static class PioLoopGuest
{
    public const string Name = "pio-loop";

    public static TestGuest Create() => new(
        Name,
        "Loop of 32-bit out/in pairs on the echo port, checked; reports TSC cycles per pair (exit latency).",
        TestGuestRequirements.EchoDevice,
        minimumMemoryMiB: 16,
        options => GuestImageBuilder.BuildElf(Name, GuestPrivilege.Kernel, p => Emit(p, options)));

    private static void Emit(GuestProgram p, TestGuestOptions options)
    {
        var a = p.Asm;
        var haveCount = a.CreateLabel();
        var loop = a.CreateLabel();
        var loopEnd = a.CreateLabel();
        var mismatch = a.CreateLabel();
        var report = a.CreateLabel();

        a.lea(rdi, __[p.Text("iterations=")]);
        a.call(p.CommandLineValue);
        a.test(edx, edx);
        a.jnz(haveCount);
        a.mov(eax, options.PioLoopIterations);
        a.Label(ref haveCount);
        a.mov(r12, rax);                               // iterations
        p.Print($"{Name}: ");
        p.PrintDecimal(r12);
        p.Print(" iterations\n");

        p.ReadTimeStampCounter();
        a.mov(r14, rax);
        a.mov(r15, r12);
        a.mov(r13d, 0x1234_5678);
        a.mov(edx, TestGuestProtocol.EchoPort);
        a.test(r15, r15);
        a.jz(loopEnd);
        a.Label(ref loop);
        a.mov(eax, r13d);
        a.@out(dx, eax);
        a.@in(eax, dx);
        a.cmp(eax, r13d);
        a.jne(mismatch);
        a.add(r13d, unchecked((int)0x9E37_79B9));
        a.dec(r15);
        a.jnz(loop);
        a.Label(ref loopEnd);

        p.ReadTimeStampCounter();
        a.sub(rax, r14);
        a.mov(r14, rax);
        p.Print($"{Name}: tsc cycles ");
        p.PrintDecimal(r14);
        a.test(r12, r12);
        a.jz(report);
        p.Print(", per iteration ");
        a.mov(rax, r14);
        a.xor(edx, edx);
        a.div(r12);
        p.PrintDecimal(rax);
        a.Label(ref report);
        a.call(p.NewLine);
        a.jmp(p.Pass);

        a.Label(ref mismatch);
        a.mov(r14d, eax);
        a.call(p.FailBegin);
        p.Print("echo port returned ");
        p.PrintHex(r14);
        p.Print(" for ");
        p.PrintHex(r13);
        p.Print(" with ");
        p.PrintDecimal(r15);
        p.Print(" iterations left");
        a.call(p.FailEnd);
    }
}
