using Iced.Intel;
using Sharpvisor.TestGuests.Building;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.TestGuests.Guests;

/// <summary>
/// io-echo: in ring 3, runs <see cref="EchoScript"/> against the pc-testdev echo port (widths 1/2/4) and echo
/// memory (widths 1/2/4/8) as straight-line code, checking each read against the value the script expects.
/// A mismatch names the step, the access, and the value read.
/// </summary>
internal static class IoEchoGuest
{
    public const string Name = "io-echo";

    public static TestGuest Create() => new(
        Name,
        "Writes patterns of widths 1/2/4 to the pc-testdev echo port and 1/2/4/8 to its echo memory and reads them back.",
        TestGuestRequirements.EchoDevice,
        minimumMemoryMiB: 16,
        options => GuestImageBuilder.BuildElf(Name, GuestPrivilege.User, Emit, options.UserIopl));

    private static void Emit(GuestProgram p)
    {
        var a = p.Asm;
        var mismatch = a.CreateLabel();
        var operations = EchoScript.Operations;

        a.mov(ebx, (uint)TestGuestProtocol.EchoMemoryAddress);
        for (int step = 0; step < operations.Count; step++)
        {
            var op = operations[step];
            if (op.Space == EchoSpace.Port) EmitPortAccess(a, op, immediateForm: step % 2 == 1);
            else EmitMemoryAccess(a, op);
            if (op.IsWrite) continue;
            a.mov(r13, op.Value);
            a.mov(r12d, step);
            a.lea(r15, __[p.Text(op.ToString())]);
            a.cmp(rax, r13);
            a.jne(mismatch);
        }

        int reads = operations.Count(o => !o.IsWrite);
        p.Print($"{Name}: {operations.Count(o => o.Space == EchoSpace.Port)} port and "
                + $"{operations.Count(o => o.Space == EchoSpace.Memory)} mmio accesses, {reads} reads checked; "
                + "port accesses emulated after #GP: ");
        a.mov(rdi, __qword_ptr[p.EmulatedPortAccessesSlot]);
        a.call(p.PutDecimal);
        a.call(p.NewLine);
        a.jmp(p.Pass);

        a.Label(ref mismatch);
        a.mov(r14, rax);
        a.call(p.FailBegin);
        p.Print("step ");
        p.PrintDecimal(r12);
        p.Print(" (");
        a.mov(rdi, r15);
        a.call(p.PutString);
        p.Print(") got ");
        p.PrintHex(r14);
        p.Print(" expected ");
        p.PrintHex(r13);
        a.call(p.FailEnd);
    }

    /// <summary>Alternates the DX form and the immediate-port form of in/out, so both encodings are exercised
    /// (natively, and through the #GP emulation where ring-3 port access traps).</summary>
    private static void EmitPortAccess(Assembler a, EchoOperation op, bool immediateForm)
    {
        byte port = (byte)op.Address;
        if (!immediateForm) a.mov(edx, (uint)op.Address);
        if (op.IsWrite)
        {
            switch (op.Width)
            {
                case 1: a.mov(al, (byte)op.Value); break;
                case 2: a.mov(ax, (ushort)op.Value); break;
                default: a.mov(eax, (uint)op.Value); break;
            }
            switch (op.Width, immediateForm)
            {
                case (1, false): a.@out(dx, al); break;
                case (2, false): a.@out(dx, ax); break;
                case (_, false): a.@out(dx, eax); break;
                case (1, true): a.@out(port, al); break;
                case (2, true): a.@out(port, ax); break;
                default: a.@out(port, eax); break;
            }
            return;
        }
        a.xor(eax, eax);                               // in al/ax leaves the rest of RAX alone
        switch (op.Width, immediateForm)
        {
            case (1, false): a.@in(al, dx); break;
            case (2, false): a.@in(ax, dx); break;
            case (_, false): a.@in(eax, dx); break;
            case (1, true): a.@in(al, port); break;
            case (2, true): a.@in(ax, port); break;
            default: a.@in(eax, port); break;
        }
    }

    private static void EmitMemoryAccess(Assembler a, EchoOperation op)
    {
        var cell = (int)op.Offset;
        if (op.IsWrite)
        {
            a.mov(rax, op.Value);
            switch (op.Width)
            {
                case 1: a.mov(__byte_ptr[rbx + cell], al); break;
                case 2: a.mov(__word_ptr[rbx + cell], ax); break;
                case 4: a.mov(__dword_ptr[rbx + cell], eax); break;
                default: a.mov(__qword_ptr[rbx + cell], rax); break;
            }
            return;
        }
        switch (op.Width)
        {
            case 1: a.movzx(eax, __byte_ptr[rbx + cell]); break;
            case 2: a.movzx(eax, __word_ptr[rbx + cell]); break;
            case 4: a.mov(eax, __dword_ptr[rbx + cell]); break;
            default: a.mov(rax, __qword_ptr[rbx + cell]); break;
        }
    }
}
