using Iced.Intel;
using Sharpvisor.TestGuests;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.TestGuests.Building;

/// <summary>Emits the routines every guest shares; see <see cref="GuestProgram"/> for what each one does.</summary>
internal static class GuestRuntime
{
    private const ushort LineStatusPort = TestGuestProtocol.SerialPort + 5;
    private const byte TransmitterEmpty = 0x20;

    public static void Emit(GuestProgram p)
    {
        var a = p.Asm;

        // put_char(dil)
        a.Label(ref p.PutCharLabel);
        var waitEmpty = a.CreateLabel();
        a.mov(edx, LineStatusPort);
        a.Label(ref waitEmpty);
        a.@in(al, dx);
        a.test(al, TransmitterEmpty);
        a.jz(waitEmpty);
        a.mov(edx, TestGuestProtocol.SerialPort);
        a.mov(eax, edi);
        a.@out(dx, al);
        a.ret();

        // put_string(rdi)
        a.Label(ref p.PutStringLabel);
        var next = a.CreateLabel();
        var done = a.CreateLabel();
        a.push(rbx);
        a.mov(rbx, rdi);
        a.Label(ref next);
        a.movzx(edi, __byte_ptr[rbx]);
        a.test(edi, edi);
        a.jz(done);
        a.call(p.PutCharLabel);
        a.inc(rbx);
        a.jmp(next);
        a.Label(ref done);
        a.pop(rbx);
        a.ret();

        // new_line()
        a.Label(ref p.NewLineLabel);
        a.mov(edi, '\n');
        a.jmp(p.PutCharLabel);

        // put_decimal(rdi): digits are built backwards in a buffer on the stack.
        a.Label(ref p.PutDecimalLabel);
        var decimalDigit = a.CreateLabel();
        a.sub(rsp, 32);
        a.mov(rax, rdi);
        a.lea(rsi, __[rsp + 31]);
        a.mov(__byte_ptr[rsi], 0);
        a.mov(ecx, 10);
        a.Label(ref decimalDigit);
        a.xor(edx, edx);
        a.div(rcx);
        a.add(dl, (byte)'0');
        a.dec(rsi);
        a.mov(__byte_ptr[rsi], dl);
        a.test(rax, rax);
        a.jnz(decimalDigit);
        a.mov(rdi, rsi);
        a.call(p.PutStringLabel);
        a.add(rsp, 32);
        a.ret();

        // put_hex(rdi)
        a.Label(ref p.PutHexLabel);
        var hexDigit = a.CreateLabel();
        var belowTen = a.CreateLabel();
        a.sub(rsp, 32);
        a.mov(rax, rdi);
        a.lea(rsi, __[rsp + 31]);
        a.mov(__byte_ptr[rsi], 0);
        a.Label(ref hexDigit);
        a.mov(edx, eax);
        a.and(edx, 0xF);
        a.add(edx, '0');
        a.cmp(edx, '9');
        a.jbe(belowTen);
        a.add(edx, 'a' - '0' - 10);
        a.Label(ref belowTen);
        a.dec(rsi);
        a.mov(__byte_ptr[rsi], dl);
        a.shr(rax, 4);
        a.jnz(hexDigit);
        a.dec(rsi);
        a.mov(__byte_ptr[rsi], (byte)'x');
        a.dec(rsi);
        a.mov(__byte_ptr[rsi], (byte)'0');
        a.mov(rdi, rsi);
        a.call(p.PutStringLabel);
        a.add(rsp, 32);
        a.ret();

        // exit(edi): the debug-exit port ends the VM if it exists; otherwise stop in the halt gate.
        a.Label(ref p.ExitLabel);
        a.mov(eax, edi);
        a.@out((byte)TestGuestProtocol.DebugExitPort, eax);
        a.@int(GuestImageLayout.HaltVector);
        a.ud2();

        // pass()
        a.Label(ref p.PassLabel);
        a.lea(rdi, __[p.Text($"{TestGuestProtocol.PassPrefix}{p.Name}\n")]);
        a.call(p.PutStringLabel);
        a.mov(edi, TestGuestProtocol.DebugExitPassValue);
        a.call(p.ExitLabel);

        // fail_begin()
        a.Label(ref p.FailBeginLabel);
        a.lea(rdi, __[p.Text($"{TestGuestProtocol.FailPrefix}{p.Name}: ")]);
        a.jmp(p.PutStringLabel);

        // fail_end()
        a.Label(ref p.FailEndLabel);
        a.call(p.NewLineLabel);
        a.mov(edi, TestGuestProtocol.DebugExitFailValue);
        a.call(p.ExitLabel);

        // fail(rdi = reason)
        a.Label(ref p.FailLabel);
        a.push(rdi);
        a.call(p.FailBeginLabel);
        a.pop(rdi);
        a.call(p.PutStringLabel);
        a.call(p.FailEndLabel);

        EmitCommandLineValue(p);
    }

    /// <summary>
    /// command_line_value(rdi = "key="): scans the PVH command line for the key at the start of a word and parses the
    /// decimal digits after it. A key with no digits after it counts as absent.
    /// </summary>
    private static void EmitCommandLineValue(GuestProgram p)
    {
        var a = p.Asm;
        var notFound = a.CreateLabel();
        var scan = a.CreateLabel();
        var advance = a.CreateLabel();
        var compareKey = a.CreateLabel();
        var keyMatched = a.CreateLabel();
        var digit = a.CreateLabel();
        var digitsEnd = a.CreateLabel();

        a.Label(ref p.CommandLineValueLabel);
        a.mov(rsi, __qword_ptr[p.StartInfoSlot]);
        a.test(rsi, rsi);
        a.jz(notFound);
        a.cmp(__dword_ptr[rsi + PvhStartInfo.MagicOffset], unchecked((int)PvhStartInfo.Magic));
        a.jne(notFound);
        a.mov(rsi, __qword_ptr[rsi + PvhStartInfo.CommandLineAddressOffset]);
        a.test(rsi, rsi);
        a.jz(notFound);
        a.mov(r8d, ' ');                      // the character before the current one; a key must follow a space

        a.Label(ref scan);
        a.movzx(eax, __byte_ptr[rsi]);
        a.test(eax, eax);
        a.jz(notFound);
        a.cmp(r8d, ' ');
        a.jne(advance);
        a.xor(ecx, ecx);
        a.Label(ref compareKey);
        a.movzx(r9d, __byte_ptr[rdi + rcx]);
        a.test(r9d, r9d);
        a.jz(keyMatched);
        a.cmp(r9b, __byte_ptr[rsi + rcx]);
        a.jne(advance);
        a.inc(rcx);
        a.jmp(compareKey);

        a.Label(ref keyMatched);
        a.lea(r10, __[rsi + rcx]);
        a.xor(eax, eax);
        a.xor(r11d, r11d);                    // digits seen
        a.Label(ref digit);
        a.movzx(ecx, __byte_ptr[r10]);
        a.sub(ecx, '0');
        a.cmp(ecx, 9);
        a.ja(digitsEnd);
        a.imul(rax, rax, 10);
        a.add(rax, rcx);
        a.inc(r10);
        a.inc(r11);
        a.jmp(digit);
        a.Label(ref digitsEnd);
        a.test(r11, r11);
        a.jz(advance);
        a.mov(edx, 1);
        a.ret();

        a.Label(ref advance);
        a.movzx(r8d, __byte_ptr[rsi]);
        a.inc(rsi);
        a.jmp(scan);

        a.Label(ref notFound);
        a.xor(eax, eax);
        a.xor(edx, edx);
        a.ret();
    }
}
