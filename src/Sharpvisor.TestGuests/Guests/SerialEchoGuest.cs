using Sharpvisor.TestGuests.Building;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.TestGuests.Guests;

/// <summary>
/// serial-echo: proves that host input reaches the guest's COM1. Prints "serial-echo: ready", then polls LSR bit 0
/// (data ready) and reads RBR until a line feed arrives, prints "ECHO &lt;line&gt;" and passes if the line is exactly
/// <see cref="ExpectedLine"/>. Ring 0 with interrupts off: about 7 instructions and one port read per poll.
/// <para>The wait is bounded by <see cref="TestGuestOptions.SerialEchoWaitCycles"/> TSC cycles from the prompt, so no
/// input, or input without a line feed, ends in a FAIL line instead of a hang. Lines longer than
/// <see cref="MaxLineLength"/> bytes fail too.</para>
/// </summary>
internal static class SerialEchoGuest
{
    public const string Name = "serial-echo";
    public const string ExpectedLine = "sharpvisor";
    public const int MaxLineLength = 128;

    private const ushort ReceiveBufferPort = TestGuestProtocol.SerialPort;
    private const ushort LineStatusPort = TestGuestProtocol.SerialPort + 5;
    private const byte DataReady = 0x01;

    public static TestGuest Create() => new(
        Name,
        "Reads a line from COM1 (host input), echoes it and passes if it is \"sharpvisor\".",
        TestGuestRequirements.SerialInput,
        minimumMemoryMiB: 16,
        options => GuestImageBuilder.BuildElf(Name, GuestPrivilege.Kernel, p => Emit(p, options)),
        serialInput: ExpectedLine + "\n");

    private static void Emit(GuestProgram p, TestGuestOptions options)
    {
        var a = p.Asm;
        ulong line = p.AllocateData(MaxLineLength);
        var poll = a.CreateLabel();
        var received = a.CreateLabel();
        var lineDone = a.CreateLabel();
        var compare = a.CreateLabel();
        var mismatch = a.CreateLabel();
        var timedOut = a.CreateLabel();
        var tooLong = a.CreateLabel();
        var printLine = a.CreateLabel();
        var printNext = a.CreateLabel();
        var printDone = a.CreateLabel();

        // r12 = line buffer, r13 = bytes in it, r14 = TSC deadline.
        p.Print($"{Name}{TestGuestProtocol.ReadyForInputSuffix}\n");
        a.mov(r12, line);
        a.xor(r13d, r13d);
        p.ReadTimeStampCounter();
        a.mov(r14, options.SerialEchoWaitCycles);
        a.add(r14, rax);

        a.Label(ref poll);
        a.mov(edx, LineStatusPort);
        a.@in(al, dx);
        a.test(al, DataReady);
        a.jnz(received);
        p.ReadTimeStampCounter();
        a.cmp(rax, r14);
        a.jb(poll);
        a.jmp(timedOut);

        a.Label(ref received);
        a.mov(edx, ReceiveBufferPort);
        a.@in(al, dx);
        a.cmp(al, (byte)'\n');
        a.je(lineDone);
        a.cmp(r13, MaxLineLength);
        a.jae(tooLong);
        a.mov(__byte_ptr[r12 + r13], al);
        a.inc(r13);
        a.jmp(poll);

        a.Label(ref lineDone);
        p.Print("ECHO ");
        a.call(printLine);
        a.call(p.NewLine);
        a.cmp(r13, ExpectedLine.Length);
        a.jne(mismatch);
        a.xor(ecx, ecx);
        a.lea(rsi, __[p.Text(ExpectedLine)]);
        a.Label(ref compare);
        a.mov(al, __byte_ptr[r12 + rcx]);
        a.cmp(al, __byte_ptr[rsi + rcx]);
        a.jne(mismatch);
        a.inc(rcx);
        a.cmp(rcx, ExpectedLine.Length);
        a.jb(compare);
        a.jmp(p.Pass);

        a.Label(ref mismatch);
        a.call(p.FailBegin);
        p.Print("read the line '");
        a.call(printLine);
        p.Print($"', expected '{ExpectedLine}'");
        a.call(p.FailEnd);

        a.Label(ref timedOut);
        a.call(p.FailBegin);
        p.Print("no line feed on COM1 within ");
        a.mov(rdi, options.SerialEchoWaitCycles);
        a.call(p.PutDecimal);
        p.Print(" tsc cycles; ");
        p.PrintDecimal(r13);
        p.Print(" bytes read before");
        a.call(p.FailEnd);

        a.Label(ref tooLong);
        p.FailWith($"line longer than {MaxLineLength} bytes");

        // print_line(): writes the r13 bytes at r12 as they came (keeps rbx).
        a.Label(ref printLine);
        a.push(rbx);
        a.xor(ebx, ebx);
        a.Label(ref printNext);
        a.cmp(rbx, r13);
        a.jae(printDone);
        a.movzx(edi, __byte_ptr[r12 + rbx]);
        a.call(p.PutChar);
        a.inc(rbx);
        a.jmp(printNext);
        a.Label(ref printDone);
        a.pop(rbx);
        a.ret();
    }
}
