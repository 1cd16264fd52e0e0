using Iced.Intel;
using Sharpvisor.Engines.Emulator.Decoding;
using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Engines.Emulator.Instructions;
using Sharpvisor.Engines.Emulator.Memory;
using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Memory;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.Engines.Emulator.Tests.Decoding;

/// <summary>
/// The handlers specialized at decode time against the generic ones, on the addressing forms the differential oracle
/// does not build (it uses [base + disp8] only): base + index * scale, index only, RIP-relative, absolute, FS/GS
/// overrides, 32-bit addressing. Same random registers, flags and memory on both sides; every output must match.
/// </summary>
public class SpecializedHandlerTests
{
    private const ulong CodeAddress = 0x10000, DataAddress = 0x200000, SegmentBase = 0x300000, StackTop = DataAddress + 0x1000;
    private const int DataSize = 0x2000;

    public static TheoryData<string> Cases() => [.. Programs.Keys];

    private static readonly Dictionary<string, Action<Assembler>> Programs = new()
    {
        ["add r64, [base+index*8+disp]"] = a => a.add(rax, __qword_ptr[rbx + rcx * 8 + 0x10]),
        ["add [base+index*4-disp], r32"] = a => a.add(__dword_ptr[rbx + rcx * 4 - 8], edx),
        ["adc [index*2+disp], imm8"] = a => a.adc(__qword_ptr[rcx * 2 + (long)DataAddress], 5),
        ["sbb r16, [base+index]"] = a => a.sbb(dx, __word_ptr[rbx + rcx]),
        ["sub [base+index*8], imm32"] = a => a.sub(__qword_ptr[rbx + rcx * 8], 0x12345678),
        ["and r8, [base+index+disp]"] = a => a.and(dl, __byte_ptr[rbx + rcx + 3]),
        ["or r32, [rip+disp]"] = a => RipRelative(a, Code.Or_r32_rm32, Register.ESI, 0x20),
        ["xor [absolute], r64"] = a => a.xor(__qword_ptr[(long)DataAddress + 0x100], rdi),
        ["cmp [base+index*4], r16"] = a => a.cmp(__word_ptr[rbx + rcx * 4], si),
        ["test [index*8+disp], imm32"] = a => a.test(__dword_ptr[rcx * 8 + (long)DataAddress + 4], 0x80000001u),
        ["add fs:[base+index], r64"] = a => a.add(__qword_ptr.fs[rdx + rcx], rax),
        ["add r64, gs:[disp]"] = a => a.add(rax, __qword_ptr.gs[0x40]),
        ["add r32, [32-bit base+index]"] = a => a.add(eax, __dword_ptr[ebx + ecx * 2]),
        ["inc [base+index*2]"] = a => a.inc(__word_ptr[rbx + rcx * 2]),
        ["dec [base+index]"] = a => a.dec(__byte_ptr[rbx + rcx]),
        ["neg [index*4+disp]"] = a => a.neg(__dword_ptr[rcx * 4 + (long)DataAddress]),
        ["not [base+index*8]"] = a => a.not(__qword_ptr[rbx + rcx * 8]),
        ["mov r64, [base+index*8+disp]"] = a => a.mov(rax, __qword_ptr[rbx + rcx * 8 + 0x18]),
        ["mov [base+index*2], r16"] = a => a.mov(__word_ptr[rbx + rcx * 2], dx),
        ["mov [index*4+disp], imm32"] = a => a.mov(__dword_ptr[rcx * 4 + (long)DataAddress], 0xDEADBEEFu),
        ["mov r8, [rip+disp]"] = a => RipRelative(a, Code.Mov_r8_rm8, Register.BL, 0x31),
        ["mov r64, fs:[base+disp]"] = a => a.mov(rdx, __qword_ptr.fs[rbx + 8]),
        ["mov gs:[index*8+disp], r64"] = a => a.mov(__qword_ptr.gs[rcx * 8 + 16], rax),
        ["mov al, [moffs64]"] = a => a.mov(al, __byte_ptr[(long)DataAddress + 0x123]),
        ["movzx r32, [base+index]"] = a => a.movzx(eax, __byte_ptr[rbx + rcx]),
        ["movsx r64, [index*2+disp]"] = a => a.movsx(rax, __word_ptr[rcx * 2 + (long)DataAddress]),
        ["movsxd r64, [base+index*4]"] = a => a.movsxd(rdx, __dword_ptr[rbx + rcx * 4]),
        ["lea r64, [base+index*4+disp]"] = a => a.lea(rax, __[rbx + rcx * 4 + 7]),
        ["lea r32, [index*8+disp]"] = a => a.lea(esi, __[rcx * 8 - 100]),
        ["lea r16, [base+index]"] = a => a.lea(di, __[rbx + rcx]),
        ["lea r64, [rip+disp]"] = a => RipRelative(a, Code.Lea_r64_m, Register.RDX, 0x1234),
        ["lea r64, fs:[base]"] = a => a.lea(rdx, __.fs[rbx + 1]),
        ["cmovne r64, [base+index*8]"] = a => a.cmovne(rax, __qword_ptr[rbx + rcx * 8]),
        ["cmovl r32, [index*4+disp]"] = a => a.cmovl(edx, __dword_ptr[rcx * 4 + (long)DataAddress]),
        ["sete [base+index]"] = a => a.sete(__byte_ptr[rbx + rcx]),
        ["setg [rip+disp]"] = a => a.AddInstruction(Instruction.Create(Code.Setg_rm8, new MemoryOperand(Register.RIP, (long)DataAddress + 0x42))),
        ["shl [base+index*8], cl"] = a => a.shl(__qword_ptr[rbx + rcx * 8], cl),
        ["sar [base+index*4+disp], imm8"] = a => a.sar(__dword_ptr[rbx + rcx * 4 + 4], 3),
        ["shr [index*2+disp], 1"] = a => a.shr(__word_ptr[rcx * 2 + (long)DataAddress], 1),
        ["shl r8, cl"] = a => a.shl(dil, cl),
        ["sar r16, imm8"] = a => a.sar(r9w, 17),
        ["shr r32, cl"] = a => a.shr(r10d, cl),
        ["rol [base+index*4], imm8"] = a => a.rol(__dword_ptr[rbx + rcx * 4], 7),
        ["ror r64, cl"] = a => a.ror(r11, cl),
        ["ror r16, 1"] = a => a.ror(si, 1),
        ["imul r64, [base+index*8+disp]"] = a => a.imul(rax, __qword_ptr[rbx + rcx * 8 + 8]),
        ["imul r16, [rip+disp]"] = a => RipRelative(a, Code.Imul_r16_rm16, Register.DX, 0x44),
        ["imul r32, [index*4+disp], imm32"] = a => a.imul(esi, __dword_ptr[rcx * 4 + (long)DataAddress], 0x12345),
        ["jmp r64"] = a => a.jmp(rsi),
        ["jmp [base+index*8]"] = a => a.jmp(__qword_ptr[rbx + rcx * 8]),
        ["call r64"] = a => a.call(rdi),
        ["call [rip+disp]"] = a => a.AddInstruction(Instruction.Create(Code.Call_rm64, new MemoryOperand(Register.RIP, (long)DataAddress + 0x58))),
        ["call gs:[index*8+disp]"] = a => a.call(__qword_ptr.gs[rcx * 8 + 8]),
        ["ret"] = a => a.ret(),
        ["push imm8"] = a => a.push(-3),
        ["pop r64"] = a => a.pop(r12),
    };

    [Theory]
    [MemberData(nameof(Cases))]
    public void SpecializedAndGenericHandlersAgree(string name)
    {
        var emit = Programs[name];
        using var specialized = new Machine(InstructionTable.Default, emit);
        using var generic = new Machine(InstructionTable.Default.WithoutSpecializers(), emit);
        var random = new Random(name.GetHashCode(StringComparison.Ordinal) ^ 20261122);
        for (int trial = 0; trial < 300; trial++)
        {
            var registers = new ulong[16];
            for (int r = 0; r < 16; r++) registers[r] = Value(random);
            registers[CpuCore.Rbx] = DataAddress + (ulong)random.Next(0, 0x100);      // bases into the data window
            registers[CpuCore.Rdx] = unchecked(DataAddress - SegmentBase) + (ulong)random.Next(0, 0x100); // fs:[rdx + ...] lands in the window
            registers[CpuCore.Rcx] = (ulong)random.Next(0, 0x80);                  // small indexes, also the shift counts
            registers[CpuCore.Rsp] = StackTop - 8 * (ulong)random.Next(0, 4); // the stack is inside the data window
            ulong flags = (ulong)random.Next() & LazyFlags.ArithmeticMask;
            var data = new byte[DataSize];
            random.NextBytes(data);
            specialized.Prepare(registers, flags, data);
            generic.Prepare(registers, flags, data);

            var specializedStop = specialized.Step();
            var genericStop = generic.Step();

            Assert.Equal(genericStop, specializedStop);
            for (int r = 0; r < 16; r++) Assert.True(generic.Cpu.Gpr[r] == specialized.Cpu.Gpr[r], $"{name}: register {r} differs (trial {trial})");
            Assert.Equal(generic.Cpu.Rflags, specialized.Cpu.Rflags);
            Assert.Equal(generic.Cpu.Rip, specialized.Cpu.Rip);
            Assert.True(generic.Data().SequenceEqual(specialized.Data()), $"{name}: memory differs (trial {trial})");
        }
        Assert.Equal(300, specialized.Cpu.InstructionsRetired);
    }

    [Fact]
    public unsafe void TheCommonFormsAreSpecialized()
    {
        var table = InstructionTable.Default;
        foreach (var emit in new Action<Assembler>[]
                 {
                     a => a.add(rax, rcx), a => a.add(__qword_ptr[rbx + rcx * 8], rax), a => a.mov(ecx, eax),
                     a => a.shl(rcx, 13), a => a.dec(rdi), a => a.and(ecx, 511), a => a.lea(rax, __[rax + rdx]),
                     a => a.push(rbx), a => a.pop(rbx), a => a.ret(), a => a.cmovne(eax, edx), a => a.sete(al),
                     a => a.imul(rax, rcx), a => a.imul(edx, __dword_ptr[rbx], -3), a => a.rol(ecx, 13), a => a.ror(rax, cl),
                 })
        {
            var instruction = Decode(emit);
            Assert.NotEqual((nint)table[instruction.Code], table.Resolve(instruction, 64));
            Assert.Equal((nint)table[instruction.Code], table.Resolve(instruction, 32)); // outside 64-bit mode: generic
        }
        // What stays generic: LOCK, 32-bit addressing, high-byte registers.
        foreach (var emit in new Action<Assembler>[]
                 {
                     a => a.@lock.add(__qword_ptr[rbx], rax), a => a.add(eax, __dword_ptr[ebx]), a => a.add(ah, bl),
                 })
        {
            var instruction = Decode(emit);
            Assert.Equal((nint)table[instruction.Code], table.Resolve(instruction, 64));
        }
    }

    /// <summary>A RIP-relative operand aimed into the data window (Iced takes the target as the displacement).</summary>
    private static void RipRelative(Assembler a, Code code, Register register, long offset) =>
        a.AddInstruction(Instruction.Create(code, register, new MemoryOperand(Register.RIP, (long)DataAddress + offset)));

    private static Instruction Decode(Action<Assembler> emit)
    {
        var a = new Assembler(64);
        emit(a);
        var stream = new MemoryStream();
        a.Assemble(new StreamCodeWriter(stream), CodeAddress);
        var decoder = Decoder.Create(64, stream.ToArray(), CodeAddress);
        decoder.Decode(out var instruction);
        return instruction;
    }

    private static ulong Value(Random random) => random.Next(4) switch
    {
        0 => (ulong)random.Next(0, 3),
        1 => ulong.MaxValue - (ulong)random.Next(0, 3),
        2 => 0x8000_0000UL << random.Next(0, 33),
        _ => (ulong)random.NextInt64() ^ ((ulong)random.Next() << 40),
    };

    /// <summary>A flat machine running one instruction at <see cref="CodeAddress"/> with the given instruction table.</summary>
    private sealed class Machine : IDisposable
    {
        private readonly GuestMemory _ram = GuestMemory.CreateX86(16 << 20);
        private readonly Interpreter _interpreter;
        public CpuCore Cpu { get; }

        public Machine(InstructionTable table, Action<Assembler> emit)
        {
            var memory = new EmulatedMemory(_ram, new MmioBus(), IdentityTranslator.Instance);
            Cpu = new CpuCore(memory);
            var a = new Assembler(64);
            emit(a);
            var stream = new MemoryStream();
            a.Assemble(new StreamCodeWriter(stream), CodeAddress);
            _ram.Write(CodeAddress, stream.ToArray());
            _interpreter = new Interpreter(Cpu, new BlockCache(memory, table));
        }

        public void Prepare(ulong[] registers, ulong flags, byte[] data)
        {
            for (int r = 0; r < 16; r++) Cpu.Gpr[r] = registers[r];
            Cpu.Rflags = flags | 0x202;
            Cpu.Rip = CodeAddress;
            Cpu.FsBase = SegmentBase;
            Cpu.GsBase = DataAddress;
            _ram.Write(DataAddress, data);
        }

        public StopReason Step() => _interpreter.Run(1);

        public byte[] Data()
        {
            var data = new byte[DataSize];
            _ram.Read(DataAddress, data);
            return data;
        }

        public void Dispose() => _ram.Dispose();
    }
}
