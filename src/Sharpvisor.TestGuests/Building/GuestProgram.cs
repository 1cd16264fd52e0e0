using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.TestGuests.Building;

/// <summary>
/// The 64-bit code of one test guest while it is being written: an Iced assembler plus the guest's runtime
/// (serial output, pass/fail reporting, command-line look-up), its variables and its string literals.
/// <para>Calling convention of the runtime routines: arguments in RDI then RSI, result in RAX (and RDX); they may
/// clobber RAX, RCX, RDX, RSI, RDI and R8-R11 and keep RBX, RBP and R12-R15. They work in ring 0 and in ring 3
/// (IOPL 3 lets ring 3 use the ports).</para>
/// </summary>
public sealed class GuestProgram
{
    private readonly Dictionary<string, Label> _texts = new(StringComparer.Ordinal);
    private readonly List<(int Vector, Label Handler, bool UserCallable)> _gates = [];
    private int _dataUsed;

    // Runtime routines. Fields, because Iced records a label's position in the struct passed by ref to Label().
    internal Label MainLabel;
    internal Label PutCharLabel, PutStringLabel, PutDecimalLabel, PutHexLabel, NewLineLabel;
    internal Label ExitLabel, PassLabel, FailLabel, FailBeginLabel, FailEndLabel, CommandLineValueLabel;

    internal GuestProgram(string name)
    {
        Name = name;
        Asm = new Assembler(64);
        MainLabel = Asm.CreateLabel("main");
        PutCharLabel = Asm.CreateLabel("put_char");
        PutStringLabel = Asm.CreateLabel("put_string");
        PutDecimalLabel = Asm.CreateLabel("put_decimal");
        PutHexLabel = Asm.CreateLabel("put_hex");
        NewLineLabel = Asm.CreateLabel("new_line");
        ExitLabel = Asm.CreateLabel("exit");
        PassLabel = Asm.CreateLabel("pass");
        FailLabel = Asm.CreateLabel("fail");
        FailBeginLabel = Asm.CreateLabel("fail_begin");
        FailEndLabel = Asm.CreateLabel("fail_end");
        CommandLineValueLabel = Asm.CreateLabel("command_line_value");
        EntryTimeStampSlot = AllocateData(8);
        StartInfoSlot = AllocateData(8);
        EmulatedPortAccessesSlot = AllocateData(8);
        if (EntryTimeStampSlot != GuestImageLayout.EntryTimeStampAddress)
            throw new InvalidOperationException("the entry stub's time-stamp slot moved");
    }

    /// <summary>The guest's name, as it appears in its PASS/FAIL line.</summary>
    public string Name { get; }

    public Assembler Asm { get; }

    /// <summary>The TSC as the first instruction of the PVH entry stub read it.</summary>
    public ulong EntryTimeStampSlot { get; }

    /// <summary>Where the 64-bit entry saved EBX, the physical address of hvm_start_info.</summary>
    public ulong StartInfoSlot { get; }

    /// <summary>How many ring-3 port accesses the #GP handler carried out because the CPU refused them despite
    /// IOPL 3 (see <see cref="GuestImageBuilder"/>); 0 on engines that honour IOPL.</summary>
    public ulong EmulatedPortAccessesSlot { get; }

    /// <summary>Writes DIL to COM1 once its transmitter holding register is empty.</summary>
    public Label PutChar => PutCharLabel;
    /// <summary>Writes the zero-terminated string at RDI.</summary>
    public Label PutString => PutStringLabel;
    /// <summary>Writes RDI as an unsigned decimal number.</summary>
    public Label PutDecimal => PutDecimalLabel;
    /// <summary>Writes RDI as 0x followed by lowercase hex digits.</summary>
    public Label PutHex => PutHexLabel;
    /// <summary>Writes a line feed.</summary>
    public Label NewLine => NewLineLabel;
    /// <summary>Writes EDI to the debug-exit port, then halts for good (in case no such port exists).</summary>
    public Label Exit => ExitLabel;
    /// <summary>Writes "PASS name" and exits with status 0.</summary>
    public Label Pass => PassLabel;
    /// <summary>Writes "FAIL name: " + the string at RDI and exits with status 1.</summary>
    public Label Fail => FailLabel;
    /// <summary>Writes "FAIL name: "; the caller then writes details and jumps to <see cref="FailEnd"/>.</summary>
    public Label FailBegin => FailBeginLabel;
    /// <summary>Ends a FAIL line and exits with status 1.</summary>
    public Label FailEnd => FailEndLabel;
    /// <summary>Looks up "key=" (the zero-terminated key, '=' included, at RDI) in the PVH command line: RDX = 1 and
    /// RAX = its unsigned decimal value when found, else RDX = 0 and RAX = 0.</summary>
    public Label CommandLineValue => CommandLineValueLabel;

    /// <summary>Reserves zeroed bytes in the data page, 8-byte aligned; returns their guest-physical address.</summary>
    public ulong AllocateData(int size)
    {
        if (size <= 0) throw new ArgumentOutOfRangeException(nameof(size));
        int offset = (_dataUsed + 7) & ~7;
        if (offset + size > GuestImageLayout.DataSize)
            throw new InvalidOperationException($"guest {Name} needs more than {GuestImageLayout.DataSize} bytes of variables");
        _dataUsed = offset + size;
        return GuestImageLayout.DataAddress + (ulong)offset;
    }

    /// <summary>A zero-terminated ASCII string placed after the code; the same text is stored once.</summary>
    public Label Text(string text)
    {
        if (!_texts.TryGetValue(text, out var label))
        {
            if (text.Any(c => c != '\n' && (c < 0x20 || c > 0x7E)))
                throw new ArgumentException("guest strings are printable ASCII and line feeds", nameof(text));
            label = Asm.CreateLabel();
            _texts.Add(text, label);
        }
        return label;
    }

    /// <summary>Emits code that prints <paramref name="text"/> (clobbers as a runtime call).</summary>
    public void Print(string text)
    {
        Asm.lea(rdi, __[Text(text)]);
        Asm.call(PutStringLabel);
    }

    /// <summary>Emits code that prints a register as decimal (clobbers as a runtime call).</summary>
    public void PrintDecimal(AssemblerRegister64 value)
    {
        if (value != rdi) Asm.mov(rdi, value);
        Asm.call(PutDecimalLabel);
    }

    /// <summary>Emits code that prints a register as hex (clobbers as a runtime call).</summary>
    public void PrintHex(AssemblerRegister64 value)
    {
        if (value != rdi) Asm.mov(rdi, value);
        Asm.call(PutHexLabel);
    }

    /// <summary>Emits a jump-free failure: prints "FAIL name: reason" and exits.</summary>
    public void FailWith(string reason)
    {
        Asm.lea(rdi, __[Text(reason)]);
        Asm.call(FailLabel);
    }

    /// <summary>Emits RAX = the time-stamp counter (clobbers RDX).</summary>
    public void ReadTimeStampCounter()
    {
        Asm.rdtsc();
        Asm.shl(rdx, 32);
        Asm.or(rax, rdx);
    }

    /// <summary>
    /// Starts an interrupt handler for <paramref name="vector"/> at the current position and puts it in the IDT.
    /// The handler runs in ring 0 with interrupts off and ends with iretq.
    /// </summary>
    public void BeginInterruptHandler(int vector, bool userCallable = false)
    {
        if (vector < 32 || vector > 255 || vector == GuestImageLayout.HaltVector)
            throw new ArgumentOutOfRangeException(nameof(vector), "handlers take vectors 32-255 except the halt vector");
        if (_gates.Any(g => g.Vector == vector))
            throw new InvalidOperationException($"vector 0x{vector:x} already has a handler");
        var label = Asm.CreateLabel($"vector_{vector:x2}");
        Asm.Label(ref label);
        _gates.Add((vector, label, userCallable));
    }

    internal IReadOnlyList<(int Vector, Label Handler, bool UserCallable)> Gates => _gates;
    internal IReadOnlyDictionary<string, Label> Texts => _texts;
}
