using Iced.Intel;
using Sharpvisor.TestGuests.Building;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.TestGuests.Guests;

/// <summary>
/// memory-writer: a steady dirty-page load for migration and dirty-tracking tests. In ring 3 it dirties
/// pages_per_sec pages of a buffer at 16 MiB every second, one second per round, then checks every page it wrote.
/// <para>Command line (PVH), each optional: <c>pages_per_sec=N seconds=S buffer_mib=M tsc_khz=K</c>; seconds=0
/// runs until the VM is stopped (no check, no PASS). Defaults come from the build options.</para>
/// <para>Each write goes to the next page in turn, wrapping around the buffer, and stores the round number (from 1)
/// and the global write sequence number in the page's first two quadwords. Writes are spread over the second in
/// 100 slices of 10 ms, paced with rdtsc against absolute deadlines, so a slow slice is caught up on.
/// After the last round, page p must hold the sequence number w of its last write,
/// w = p + P * floor((W - 1 - p) / P) for W writes in all and P pages, and the round w / pages_per_sec + 1.</para>
/// <para>The TSC rate comes from, in order: tsc_khz= on the command line; CPUID 0x40000010 EAX (the KVM/VMware timing
/// leaf) when a hypervisor advertises it; CPUID 0x15 (crystal clock and ratio); CPUID 0x16 (base MHz); 50 ms of
/// PIT channel 2 counted with the TSC, as Linux calibrates (needs port 0x61, which QEMU's microvm lacks under TCG);
/// else the TSC between two ticks of the CMOS RTC seconds register (takes up to 2 s). A measured rate under 100 MHz
/// is taken as a missing timer. The line before the first round names the source.</para>
/// </summary>
internal static class MemoryWriterGuest
{
    public const string Name = "memory-writer";
    public const int SlicesPerRound = 100;
    public const uint MaxBufferMiB = 2048;
    private const int PitHz = 1_193_182;
    private const int PitCalibrationMs = 50;
    private const int RtcPollLimit = 50_000_000;
    /// <summary>A measured rate below 100 MHz means the timer was not really there (port 0x61 read as all ones).</summary>
    private const int MinimumMeasuredKhz = 100_000;

    public static TestGuest Create() => new(
        Name,
        "Dirties pages_per_sec pages a second of a buffer for a number of seconds, paced by the TSC, then verifies them.",
        TestGuestRequirements.TimeStampCounter,
        minimumMemoryMiB: 16 + (int)TestGuestOptions.Default.MemoryWriterBufferMiB + 16,
        options => GuestImageBuilder.BuildElf(Name, GuestPrivilege.User, p => Emit(p, options), options.UserIopl));

    private static void Emit(GuestProgram p, TestGuestOptions options)
    {
        var a = p.Asm;
        ulong pagesPerSecond = p.AllocateData(8);
        ulong seconds = p.AllocateData(8);
        ulong bufferMiB = p.AllocateData(8);
        ulong tscKhz = p.AllocateData(8);
        ulong ticksPerSlice = p.AllocateData(8);
        var detectTsc = a.CreateLabel("detect_tsc");

        ReadParameter(p, "pages_per_sec=", options.MemoryWriterPagesPerSecond, pagesPerSecond);
        ReadParameter(p, "seconds=", options.MemoryWriterSeconds, seconds);
        ReadParameter(p, "buffer_mib=", options.MemoryWriterBufferMiB, bufferMiB);
        var bufferOk = a.CreateLabel();
        a.mov(rax, __qword_ptr[bufferMiB]);
        a.dec(rax);
        a.cmp(rax, (int)MaxBufferMiB - 1);
        a.jbe(bufferOk);
        p.FailWith($"buffer_mib must be 1-{MaxBufferMiB}");
        a.Label(ref bufferOk);

        var tscOk = a.CreateLabel();
        a.call(detectTsc);
        a.mov(__qword_ptr[tscKhz], rax);
        a.mov(r12, rdi);                                      // name of the source
        a.cmp(rax, 1000);
        a.jae(tscOk);
        p.FailWith("cannot learn the TSC frequency (pass tsc_khz= on the command line)");
        a.Label(ref tscOk);
        a.imul(rax, rax, 1000 / SlicesPerRound);              // kHz * 1000 / 100 slices
        a.mov(__qword_ptr[ticksPerSlice], rax);

        p.Print($"{Name}: pages_per_sec ");
        a.mov(rdi, __qword_ptr[pagesPerSecond]);
        a.call(p.PutDecimal);
        p.Print(" seconds ");
        a.mov(rdi, __qword_ptr[seconds]);
        a.call(p.PutDecimal);
        p.Print(" buffer_mib ");
        a.mov(rdi, __qword_ptr[bufferMiB]);
        a.call(p.PutDecimal);
        p.Print(" tsc_khz ");
        a.mov(rdi, __qword_ptr[tscKhz]);
        a.call(p.PutDecimal);
        p.Print(" (");
        a.mov(rdi, r12);
        a.call(p.PutString);
        p.Print(")\n");

        // r12 = writes so far (W), r13 = round (from 1), r14 = next deadline, r15 = pages in the buffer (P),
        // rbx = writes in this round, rbp = slice in this round.
        var round = a.CreateLabel();
        var slice = a.CreateLabel();
        var write = a.CreateLabel();
        var sliceWritten = a.CreateLabel();
        var spin = a.CreateLabel();
        var sliceOver = a.CreateLabel();
        var nextRound = a.CreateLabel();
        var verify = a.CreateLabel();

        a.mov(r15, __qword_ptr[bufferMiB]);
        a.shl(r15, 8);                                        // MiB -> 4 KiB pages
        a.xor(r12d, r12d);
        a.mov(r13d, 1);
        p.ReadTimeStampCounter();
        a.mov(r14, rax);

        a.Label(ref round);
        a.xor(ebx, ebx);
        a.xor(ebp, ebp);
        a.Label(ref slice);
        a.lea(rax, __[rbp + 1]);                              // target = pages_per_sec * (slice + 1) / 100
        a.imul(rax, __qword_ptr[pagesPerSecond]);
        a.xor(edx, edx);
        a.mov(ecx, SlicesPerRound);
        a.div(rcx);
        a.mov(r9, rax);
        a.mov(r10, GuestImageLayout.FreeMemoryStart);
        a.Label(ref write);
        a.cmp(rbx, r9);
        a.jae(sliceWritten);
        a.mov(rax, r12);
        a.xor(edx, edx);
        a.div(r15);                                           // rdx = page = W mod P
        a.shl(rdx, 12);
        a.mov(__qword_ptr[r10 + rdx], r13);
        a.mov(__qword_ptr[r10 + rdx + 8], r12);
        a.inc(r12);
        a.inc(rbx);
        a.jmp(write);
        a.Label(ref sliceWritten);
        a.add(r14, __qword_ptr[ticksPerSlice]);
        a.Label(ref spin);
        p.ReadTimeStampCounter();
        a.cmp(rax, r14);
        a.jae(sliceOver);
        a.pause();
        a.jmp(spin);
        a.Label(ref sliceOver);
        a.inc(rbp);
        a.cmp(rbp, SlicesPerRound);
        a.jb(slice);

        p.Print("ROUND ");
        p.PrintDecimal(r13);
        p.Print(" writes ");
        p.PrintDecimal(r12);
        a.call(p.NewLine);
        a.mov(rax, __qword_ptr[seconds]);
        a.test(rax, rax);
        a.jz(nextRound);                                      // seconds=0: until stopped
        a.cmp(r13, rax);
        a.jae(verify);
        a.Label(ref nextRound);
        a.inc(r13);
        a.jmp(round);

        EmitVerify(p, verify, pagesPerSecond);
        EmitDetectTsc(p, detectTsc);
    }

    /// <summary>Stores the command-line value of <paramref name="key"/>, or <paramref name="fallback"/>.</summary>
    private static void ReadParameter(GuestProgram p, string key, uint fallback, ulong slot)
    {
        var a = p.Asm;
        var found = a.CreateLabel();
        a.lea(rdi, __[p.Text(key)]);
        a.call(p.CommandLineValue);
        a.test(edx, edx);
        a.jnz(found);
        a.mov(eax, fallback);
        a.Label(ref found);
        a.mov(__qword_ptr[slot], rax);
    }

    /// <summary>Checks pages 0..min(P, W)-1 (r15 = P, r12 = W); rbx walks the pages.</summary>
    private static void EmitVerify(GuestProgram p, Label verify, ulong pagesPerSecond)
    {
        var a = p.Asm;
        var page = a.CreateLabel();
        var checkedAll = a.CreateLabel();
        var bad = a.CreateLabel();
        a.Label(ref verify);
        a.mov(rbp, r15);                                      // pages to check = min(P, W)
        a.cmp(r12, r15);
        a.cmovb(rbp, r12);
        a.xor(ebx, ebx);
        a.mov(r10, GuestImageLayout.FreeMemoryStart);
        a.Label(ref page);
        a.cmp(rbx, rbp);
        a.jae(checkedAll);
        a.lea(rax, __[r12 - 1]);                              // w = p + P * floor((W - 1 - p) / P)
        a.sub(rax, rbx);
        a.xor(edx, edx);
        a.div(r15);
        a.imul(rax, r15);
        a.add(rax, rbx);
        a.mov(r11, rax);
        a.xor(edx, edx);                                      // round = w / pages_per_sec + 1
        a.div(__qword_ptr[pagesPerSecond]);
        a.inc(rax);
        a.mov(r9, rax);
        a.mov(rdx, rbx);
        a.shl(rdx, 12);
        a.add(rdx, r10);
        a.cmp(__qword_ptr[rdx], r9);
        a.jne(bad);
        a.cmp(__qword_ptr[rdx + 8], r11);
        a.jne(bad);
        a.inc(rbx);
        a.jmp(page);

        a.Label(ref checkedAll);
        p.Print($"{Name}: verified ");
        p.PrintDecimal(rbp);
        p.Print(" pages\n");
        a.jmp(p.Pass);

        // r9 = round expected, r11 = write expected, rdx = the page's address.
        a.Label(ref bad);
        a.mov(r12, rdx);
        a.mov(r13, r9);
        a.mov(r14, r11);
        a.call(p.FailBegin);
        p.Print("page ");
        p.PrintDecimal(rbx);
        p.Print(" holds round ");
        a.mov(rdi, __qword_ptr[r12]);
        a.call(p.PutDecimal);
        p.Print(" write ");
        a.mov(rdi, __qword_ptr[r12 + 8]);
        a.call(p.PutDecimal);
        p.Print(", expected round ");
        p.PrintDecimal(r13);
        p.Print(" write ");
        p.PrintDecimal(r14);
        a.call(p.FailEnd);
    }

    /// <summary>detect_tsc: RAX = TSC kHz (0 if unknown), RDI = name of the source. Keeps RBX (CPUID clobbers it).</summary>
    private static void EmitDetectTsc(GuestProgram p, Label detectTsc)
    {
        var a = p.Asm;
        var viaHypervisor = a.CreateLabel();
        var viaLeaf15 = a.CreateLabel();
        var viaLeaf16 = a.CreateLabel();
        var viaPit = a.CreateLabel();
        var pitPoll = a.CreateLabel();
        var pitExpired = a.CreateLabel();
        var viaRtc = a.CreateLabel();
        var rtcFirstEdge = a.CreateLabel();
        var rtcFirstEdgeSeen = a.CreateLabel();
        var rtcSecondEdge = a.CreateLabel();
        var rtcSecondEdgeSeen = a.CreateLabel();
        var none = a.CreateLabel();
        var done = a.CreateLabel();

        a.Label(ref detectTsc);
        a.push(rbx);
        a.lea(rdi, __[p.Text("tsc_khz=")]);
        a.call(p.CommandLineValue);
        a.lea(rdi, __[p.Text("command line")]);
        a.test(rax, rax);
        a.jnz(done);

        a.Label(ref viaHypervisor);
        a.mov(eax, 1);
        a.cpuid();
        a.bt(ecx, 31);                                        // hypervisor present
        a.jnc(viaLeaf15);
        a.mov(eax, 0x4000_0000);
        a.cpuid();
        a.cmp(eax, 0x4000_0010);
        a.jb(viaLeaf15);
        a.mov(eax, 0x4000_0010);
        a.cpuid();
        a.lea(rdi, __[p.Text("cpuid 0x40000010")]);
        a.test(eax, eax);
        a.jnz(done);

        a.Label(ref viaLeaf15);
        a.xor(eax, eax);
        a.cpuid();
        a.mov(r8d, eax);                                      // highest basic leaf
        a.cmp(r8d, 0x15);
        a.jb(viaPit);
        a.mov(eax, 0x15);
        a.cpuid();                                            // TSC = ECX (crystal Hz) * EBX / EAX
        a.test(eax, eax);
        a.jz(viaLeaf16);
        a.test(ebx, ebx);
        a.jz(viaLeaf16);
        a.test(ecx, ecx);
        a.jz(viaLeaf16);
        a.mov(r9d, eax);
        a.mov(eax, ecx);
        a.mul(rbx);
        a.div(r9);
        a.xor(edx, edx);
        a.mov(ecx, 1000);
        a.div(rcx);
        a.lea(rdi, __[p.Text("cpuid 0x15")]);
        a.jmp(done);

        a.Label(ref viaLeaf16);
        a.cmp(r8d, 0x16);
        a.jb(viaPit);
        a.mov(eax, 0x16);
        a.cpuid();
        a.and(eax, 0xFFFF);                                   // base frequency, MHz
        a.imul(eax, eax, 1000);
        a.lea(rdi, __[p.Text("cpuid 0x16")]);
        a.test(eax, eax);
        a.jnz(done);

        // PIT channel 2, mode 0, counted down over 50 ms with the gate on and the speaker off; port 0x61 bit 5
        // shows its output going high at the end. Right after programming it must read low, or nothing is there.
        a.Label(ref viaPit);
        a.@in(al, 0x61);
        a.and(al, 0xFC);
        a.or(al, 0x01);
        a.@out(0x61, al);
        a.mov(al, 0xB0);                                      // channel 2, lobyte/hibyte, mode 0, binary
        a.@out(0x43, al);
        const int latch = PitHz / (1000 / PitCalibrationMs);
        a.mov(al, (byte)(latch & 0xFF));
        a.@out(0x42, al);
        a.mov(al, (byte)(latch >> 8));
        a.@out(0x42, al);
        p.ReadTimeStampCounter();
        a.mov(r9, rax);
        a.@in(al, 0x61);
        a.test(al, 0x20);
        a.jnz(viaRtc);
        a.mov(ecx, 100_000_000);                              // give up on a PIT that never fires
        a.Label(ref pitPoll);
        a.@in(al, 0x61);
        a.test(al, 0x20);
        a.jnz(pitExpired);
        a.dec(ecx);
        a.jnz(pitPoll);
        a.jmp(viaRtc);
        a.Label(ref pitExpired);
        p.ReadTimeStampCounter();
        a.sub(rax, r9);
        a.xor(edx, edx);
        a.mov(ecx, PitCalibrationMs);
        a.div(rcx);
        a.lea(rdi, __[p.Text("pit")]);
        a.cmp(rax, MinimumMeasuredKhz);
        a.jae(done);

        // CMOS RTC: the TSC between two changes of the seconds register is one second. Up to 2 s; last resort.
        a.Label(ref viaRtc);
        a.mov(al, 0x00);                                      // seconds
        a.@out(0x70, al);
        a.@in(al, 0x71);
        a.cmp(al, 0x60);                                      // 0xFF: no RTC; seconds are at most 0x59 (BCD) or 59
        a.jae(none);
        a.mov(r10d, eax);
        a.mov(ecx, RtcPollLimit);
        a.Label(ref rtcFirstEdge);
        a.@in(al, 0x71);
        a.cmp(al, r10b);
        a.jne(rtcFirstEdgeSeen);
        a.dec(ecx);
        a.jnz(rtcFirstEdge);
        a.jmp(none);
        a.Label(ref rtcFirstEdgeSeen);
        a.mov(r10d, eax);
        p.ReadTimeStampCounter();
        a.mov(r9, rax);
        a.mov(ecx, RtcPollLimit);
        a.Label(ref rtcSecondEdge);
        a.@in(al, 0x71);
        a.cmp(al, r10b);
        a.jne(rtcSecondEdgeSeen);
        a.dec(ecx);
        a.jnz(rtcSecondEdge);
        a.jmp(none);
        a.Label(ref rtcSecondEdgeSeen);
        p.ReadTimeStampCounter();
        a.sub(rax, r9);
        a.xor(edx, edx);
        a.mov(ecx, 1000);
        a.div(rcx);
        a.lea(rdi, __[p.Text("rtc")]);
        a.cmp(rax, MinimumMeasuredKhz);
        a.jae(done);

        a.Label(ref none);
        a.xor(eax, eax);
        a.lea(rdi, __[p.Text("none")]);

        a.Label(ref done);
        a.pop(rbx);
        a.ret();
    }
}
