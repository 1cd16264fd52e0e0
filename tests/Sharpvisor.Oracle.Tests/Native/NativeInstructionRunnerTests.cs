using System.Buffers.Binary;
using Sharpvisor.Oracle.Native;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.Oracle.Tests.Native;

public sealed class NativeInstructionRunnerTests : IDisposable
{
    private const ulong CF = 1, PF = 4, AF = 0x10, ZF = 0x40, SF = 0x80, DF = 0x400, OF = 0x800;
    private readonly NativeInstructionRunner _runner = new();

    public void Dispose() => _runner.Dispose();

    [Fact]
    public void Add_with_carry_out_and_signed_overflow_sets_CF_OF_ZF_PF_AF()
    {
        // 0x8000_0000_0000_0000 + 0x8000_0000_0000_0000 = 0 with carry out; two negatives make a positive: overflow.
        var c = InstructionCase.Create(Assemble.One(a => a.add(rax, rbx)));
        c.Gprs[GprIndex.Rax] = 0x8000_0000_0000_0000;
        c.Gprs[GprIndex.Rbx] = 0x8000_0000_0000_0000;
        InstructionOutcome o = _runner.Run(c);
        Assert.Equal(InstructionFault.None, o.Fault);
        Assert.Equal(0UL, o.Gprs[GprIndex.Rax]);
        Assert.Equal(CF | PF | ZF | OF | 2, o.Rflags);

        // 0x7FFF_FFFF + 1 in 32 bits: signed overflow without carry, result negative, AF from the low nibble, upper half zeroed.
        var d = InstructionCase.Create(Assemble.One(a => a.add(ecx, edx)));
        d.Gprs[GprIndex.Rcx] = 0xFFFF_FFFF_7FFF_FFFF;
        d.Gprs[GprIndex.Rdx] = 1;
        o = _runner.Run(d);
        Assert.Equal(0x8000_0000UL, o.Gprs[GprIndex.Rcx]);
        Assert.Equal(SF | OF | AF | PF | 2, o.Rflags);
    }

    [Fact]
    public void Input_flags_feed_adc_and_only_arithmetic_flags_and_DF_come_back()
    {
        var c = InstructionCase.Create(Assemble.One(a => a.adc(r9, r10))) with { Rflags = CF | DF | 0x100 /* TF is ignored */ };
        c.Gprs[GprIndex.R9] = 41;
        c.Gprs[GprIndex.R10] = 0;
        InstructionOutcome o = _runner.Run(c);
        Assert.Equal(42UL, o.Gprs[GprIndex.R9]);
        Assert.Equal(DF | 2, o.Rflags); // 42 = 0b101010: odd parity, so PF clear
    }

    [Fact]
    public void Xchg_and_bswap_move_bits_as_specified()
    {
        var c = InstructionCase.Create(Assemble.One(a => a.xchg(rsi, r15)));
        c.Gprs[GprIndex.Rsi] = 0x1111;
        c.Gprs[GprIndex.R15] = 0x2222_0000_0000_0000;
        InstructionOutcome o = _runner.Run(c);
        Assert.Equal(0x2222_0000_0000_0000UL, o.Gprs[GprIndex.Rsi]);
        Assert.Equal(0x1111UL, o.Gprs[GprIndex.R15]);

        var b = InstructionCase.Create(Assemble.One(a => a.bswap(r12)));
        b.Gprs[GprIndex.R12] = 0x0102_0304_0506_0708;
        o = _runner.Run(b);
        Assert.Equal(0x0807_0605_0403_0201UL, o.Gprs[GprIndex.R12]);
        for (int i = 0; i < 16; i++)
            if (i != GprIndex.R12) Assert.Equal(b.Gprs[i], o.Gprs[i]);
    }

    [Fact]
    public void Memory_operand_add_writes_the_window_and_keeps_the_pointer_canonical()
    {
        var c = InstructionCase.Create(Assemble.One(a => a.add(__qword_ptr[rbx + 0x10], rdx))) with { PointerRegisters = (1 << GprIndex.Rsp) | (1 << GprIndex.Rbx) };
        c.Gprs[GprIndex.Rbx] = InstructionCase.CanonicalWindowBase + 0x200;
        c.Gprs[GprIndex.Rdx] = 0x0000_0001_0000_0001;
        BinaryPrimitives.WriteUInt64LittleEndian(c.Memory.AsSpan(0x210), 0x0000_0002_FFFF_FFFF);
        InstructionOutcome o = _runner.Run(c);
        Assert.Equal(0x0000_0004_0000_0000UL, BinaryPrimitives.ReadUInt64LittleEndian(o.Memory.AsSpan(0x210)));
        Assert.Equal(InstructionCase.CanonicalWindowBase + 0x200, o.Gprs[GprIndex.Rbx]);
        Assert.Equal(AF | PF | 2, o.Rflags);
        byte[] expected = (byte[])c.Memory.Clone();
        BinaryPrimitives.WriteUInt64LittleEndian(expected.AsSpan(0x210), 0x0000_0004_0000_0000);
        Assert.True(o.Memory.AsSpan().SequenceEqual(expected));
    }

    [Fact]
    public void A_window_away_from_the_canonical_address_gives_the_same_outcome()
    {
        var c = InstructionCase.Create(Assemble.One(a => a.sub(__dword_ptr[rdi - 8], 0x1234))) with { PointerRegisters = (1 << GprIndex.Rsp) | (1 << GprIndex.Rdi) };
        c.Gprs[GprIndex.Rdi] = InstructionCase.CanonicalWindowBase + 0x1808;
        BinaryPrimitives.WriteUInt32LittleEndian(c.Memory.AsSpan(0x1800), 0x1000);
        using var elsewhere = new NativeInstructionRunner(placeWindowAtCanonicalAddress: false);
        Assert.NotEqual(InstructionCase.CanonicalWindowBase, elsewhere.WindowAddress);
        InstructionOutcome there = elsewhere.Run(c);
        InstructionOutcome here = _runner.Run(c);
        Assert.Equal("", there.DescribeDifferences(here));
        Assert.Equal(unchecked((uint)(0x1000 - 0x1234)), BinaryPrimitives.ReadUInt32LittleEndian(there.Memory.AsSpan(0x1800)));
        Assert.Equal(InstructionCase.CanonicalWindowBase + 0x1808, there.Gprs[GprIndex.Rdi]);
    }

    [Fact]
    public void Movdqa_and_pxor_on_xmm_registers()
    {
        var mov = InstructionCase.Create(Assemble.One(a => a.movdqa(xmm3, xmm12)));
        GprIndex.WriteXmm(mov.Xmm, 12, new UInt128(0x0123_4567_89AB_CDEF, 0xFEDC_BA98_7654_3210));
        InstructionOutcome o = _runner.Run(mov);
        Assert.Equal(new UInt128(0x0123_4567_89AB_CDEF, 0xFEDC_BA98_7654_3210), o.GetXmm(3));
        Assert.Equal(mov.GetXmm(12), o.GetXmm(12));

        var xor = InstructionCase.Create(Assemble.One(a => a.pxor(xmm15, xmm0)));
        GprIndex.WriteXmm(xor.Xmm, 15, new UInt128(0xFFFF_0000_FFFF_0000, 0x1111_1111_1111_1111));
        GprIndex.WriteXmm(xor.Xmm, 0, new UInt128(0x0F0F_0F0F_0F0F_0F0F, 0x1111_1111_1111_1111));
        o = _runner.Run(xor);
        Assert.Equal(new UInt128(0xF0F0_0F0F_F0F0_0F0F, 0), o.GetXmm(15));
        Assert.Equal(InstructionCase.DefaultMxcsr, o.Mxcsr);

        var load = InstructionCase.Create(Assemble.One(a => a.movdqa(xmm7, __xmmword_ptr[r8]))) with { PointerRegisters = (1 << GprIndex.Rsp) | (1 << GprIndex.R8) };
        load.Gprs[GprIndex.R8] = InstructionCase.CanonicalWindowBase + 0x40;
        for (int i = 0; i < 16; i++) load.Memory[0x40 + i] = (byte)(i + 1);
        o = _runner.Run(load);
        Assert.Equal(new UInt128(0x100F_0E0D_0C0B_0A09, 0x0807_0605_0403_0201), o.GetXmm(7));
    }

    [Fact]
    public void Push_and_pop_use_the_private_stack_in_the_window()
    {
        var push = InstructionCase.Create(Assemble.One(a => a.push(r13)));
        push.Gprs[GprIndex.R13] = 0xDEAD_BEEF_CAFE_F00D;
        InstructionOutcome o = _runner.Run(push);
        Assert.Equal(InstructionCase.CanonicalWindowBase + InstructionCase.DefaultStackOffset - 8, o.Gprs[GprIndex.Rsp]);
        Assert.Equal(0xDEAD_BEEF_CAFE_F00DUL, BinaryPrimitives.ReadUInt64LittleEndian(o.Memory.AsSpan(InstructionCase.DefaultStackOffset - 8)));

        var pop = InstructionCase.Create(Assemble.One(a => a.pop(rbp)));
        BinaryPrimitives.WriteUInt64LittleEndian(pop.Memory.AsSpan(InstructionCase.DefaultStackOffset), 0x0BAD_F00D);
        o = _runner.Run(pop);
        Assert.Equal(0x0BAD_F00DUL, o.Gprs[GprIndex.Rbp]);
        Assert.Equal(InstructionCase.CanonicalWindowBase + InstructionCase.DefaultStackOffset + 8, o.Gprs[GprIndex.Rsp]);

        var pushf = InstructionCase.Create(Assemble.One(a => a.pushfq())) with { Rflags = CF | ZF | OF };
        o = _runner.Run(pushf);
        ulong pushed = BinaryPrimitives.ReadUInt64LittleEndian(o.Memory.AsSpan(InstructionCase.DefaultStackOffset - 8));
        Assert.Equal(CF | ZF | OF | 2, pushed & InstructionOutcome.OutputFlagsMask);
    }

    [Fact]
    public void The_runner_is_reusable_and_unchanged_registers_pass_through()
    {
        var outcome = InstructionOutcome.CreateBuffers();
        var c = InstructionCase.Create(Assemble.One(a => a.inc(r11)));
        for (int i = 0; i < 16; i++) if (i != GprIndex.Rsp) c.Gprs[i] = 0x1000UL * (ulong)(i + 1);
        for (int round = 0; round < 1000; round++)
        {
            c.Gprs[GprIndex.R11] = (ulong)round;
            _runner.Run(c, outcome);
            Assert.Equal((ulong)round + 1, outcome.Gprs[GprIndex.R11]);
        }
        for (int i = 0; i < 16; i++) if (i != GprIndex.R11) Assert.Equal(c.Gprs[i], outcome.Gprs[i]);
    }
}
