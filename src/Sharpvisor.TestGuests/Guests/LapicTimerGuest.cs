using Sharpvisor.TestGuests.Building;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.TestGuests.Guests;

/// <summary>
/// lapic-timer: programs the xAPIC timer in periodic mode on vector 0x40 and halts until a number of timer
/// interrupts have arrived (each handler counts and sends EOI). Ring 0, but almost all of its time is spent halted.
/// <para>Watchdogs, so it cannot hang silently on a broken timer: the current-count register must move right after
/// programming, and more than <see cref="MaxIdleWakeups"/> wake-ups from hlt without a new tick fail the test.
/// A timer that never fires at all leaves the guest halted; the harness's time limit catches that.</para>
/// </summary>
internal static class LapicTimerGuest
{
    public const string Name = "lapic-timer";
    public const int TimerVector = 0x40;
    public const int SpuriousVector = 0xFF;
    public const int MaxIdleWakeups = 1000;

    private const int TaskPriority = 0x80, EndOfInterrupt = 0xB0, SpuriousVectorRegister = 0xF0;
    private const int LvtTimer = 0x320, InitialCount = 0x380, CurrentCount = 0x390, DivideConfiguration = 0x3E0;
    private const int ApicSoftwareEnable = 0x100, LvtMasked = 0x10000, LvtPeriodic = 0x20000, DivideBy16 = 0x3;

    public static TestGuest Create() => new(
        Name,
        "Programs the local APIC timer (periodic, vector 0x40) and halts until enough timer interrupts arrived.",
        TestGuestRequirements.LocalApic,
        minimumMemoryMiB: 16,
        options => GuestImageBuilder.BuildElf(Name, GuestPrivilege.Kernel, p => Emit(p, options)));

    private static void Emit(GuestProgram p, TestGuestOptions options)
    {
        var a = p.Asm;
        ulong ticks = p.AllocateData(8);
        ulong spurious = p.AllocateData(8);
        var counting = a.CreateLabel();
        var pollCount = a.CreateLabel();
        var wait = a.CreateLabel();
        var done = a.CreateLabel();
        var afterHandlers = a.CreateLabel();

        a.jmp(afterHandlers);
        p.BeginInterruptHandler(TimerVector);
        a.push(rax);
        a.inc(__qword_ptr[ticks]);
        a.mov(eax, (uint)(GuestImageLayout.LocalApicAddress + EndOfInterrupt));
        a.mov(__dword_ptr[rax], 0);
        a.pop(rax);
        a.iretq();
        p.BeginInterruptHandler(SpuriousVector);       // no EOI for a spurious interrupt
        a.inc(__qword_ptr[spurious]);
        a.iretq();
        a.Label(ref afterHandlers);

        // The legacy PICs would deliver the BIOS's PIT ticks through LINT0: mask them all.
        a.mov(al, 0xFF);
        a.@out(0x21, al);
        a.@out(0xA1, al);

        a.mov(ebx, (uint)GuestImageLayout.LocalApicAddress);
        a.mov(__dword_ptr[rbx + TaskPriority], 0);
        a.mov(__dword_ptr[rbx + SpuriousVectorRegister], ApicSoftwareEnable | SpuriousVector);
        a.mov(__dword_ptr[rbx + DivideConfiguration], DivideBy16);
        a.mov(__dword_ptr[rbx + LvtTimer], LvtPeriodic | TimerVector);
        a.mov(__dword_ptr[rbx + InitialCount], unchecked((int)options.TimerInitialCount));

        // Watchdog 1: the count must move between two reads (a few tries; each read is an exit in a VM).
        a.mov(ecx, 1000);
        a.mov(r12d, __dword_ptr[rbx + CurrentCount]);
        a.Label(ref pollCount);
        a.mov(eax, __dword_ptr[rbx + CurrentCount]);
        a.cmp(eax, r12d);
        a.jne(counting);
        a.dec(ecx);
        a.jnz(pollCount);
        a.mov(__dword_ptr[rbx + LvtTimer], LvtMasked);
        p.FailWith("the APIC timer current count does not move");

        a.Label(ref counting);
        p.ReadTimeStampCounter();
        a.mov(r14, rax);
        a.xor(r12d, r12d);                             // wake-ups without a new tick
        a.Label(ref wait);
        a.cli();
        a.mov(r13, __qword_ptr[ticks]);
        a.cmp(r13, options.TimerTicks);
        a.jae(done);
        a.sti();                                       // sti's one-instruction shadow makes sti;hlt race-free
        a.hlt();
        a.cmp(__qword_ptr[ticks], r13);
        a.jne(wait);
        a.inc(r12);
        a.cmp(r12, MaxIdleWakeups);
        a.jb(wait);
        a.cli();
        a.mov(__dword_ptr[rbx + LvtTimer], LvtMasked);
        a.call(p.FailBegin);
        p.Print($"woke {MaxIdleWakeups} times from hlt without a timer interrupt, after ");
        p.PrintDecimal(r13);
        p.Print(" ticks");
        a.call(p.FailEnd);

        a.Label(ref done);
        a.mov(__dword_ptr[rbx + LvtTimer], LvtMasked);
        p.ReadTimeStampCounter();
        a.sub(rax, r14);
        a.xor(edx, edx);
        a.mov(ecx, options.TimerTicks);
        a.div(rcx);
        a.mov(r14, rax);
        p.Print($"{Name}: ");
        a.mov(rdi, __qword_ptr[ticks]);
        a.call(p.PutDecimal);
        p.Print(" ticks, ");
        a.mov(rdi, __qword_ptr[spurious]);
        a.call(p.PutDecimal);
        p.Print(" spurious, ");
        p.PrintDecimal(r12);
        p.Print(" idle wake-ups, ");
        p.PrintDecimal(r14);
        p.Print(" tsc cycles per tick\n");
        a.jmp(p.Pass);
    }
}
