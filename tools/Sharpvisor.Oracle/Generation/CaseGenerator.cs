using Iced.Intel;

namespace Sharpvisor.Oracle.Generation;

/// <summary>
/// Builds random, reproducible cases for one Iced instruction form (<see cref="Code"/>). Supported operands:
/// general registers of every width (AH..BH excepted), XMM registers, immediates, the fixed registers of short
/// forms (AL, CL, DX, EAX, RAX...), and ModRM memory operands as <c>[base + disp8]</c> with a base register that
/// points into the window (the base is chosen among registers the instruction does not otherwise use, explicitly
/// or implicitly, so the runner may relocate it). RSP always points at the private stack in the window and is
/// never chosen as an operand, so stack instructions push and pop inside the window. Register values mix edge
/// values (0, 1, sign boundaries, all ones) with random ones; flags and MXCSR rounding/FTZ/DAZ are random; XMM and
/// window contents are random bytes with some 16-byte blocks of binary32/binary64 edge values. String instructions (MOVS STOS LODS CMPS SCAS) use 64-bit addressing with RSI and RDI
/// pointing into the data area of the window, RCX in 0..16 and, at random, no prefix, REP, or (CMPS/SCAS) REPE or
/// REPNE; DF is random like the other flags. XLAT gets RBX in the window; ENTER and LEAVE get RBP in the window.
/// POPF pops an image with TF clear (a single-step trap would land in the harness). x87 forms (ST(0), ST(i) and
/// memory operands; see <see cref="IsX87Related"/>) start from a random x87 state and find a value of their operand's
/// type at the memory operand (<see cref="X87CaseValues"/>). Not supported
/// (<see cref="NotSupportedException"/>): branches, instructions whose results depend on the host (CPUID, RDTSC,
/// RDTSCP, RDRAND, RDSEED, RDPID), MMX/AVX-512 operands, segment/control registers, VSIB and RIP-relative memory.
/// </summary>
public sealed class CaseGenerator
{
    private static readonly ulong[] EdgeValues =
    [
        0, 1, 2, 0x7F, 0x80, 0xFF, 0x7FFF, 0x8000, 0xFFFF, 0x7FFF_FFFF, 0x8000_0000, 0xFFFF_FFFF,
        0x1_0000_0000, 0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000, ulong.MaxValue, ulong.MaxValue - 1,
    ];

    private const int FloatEdgeSpan = 512;

    private readonly Random _random;
    private readonly InstructionInfoFactory _infoFactory = new();
    private readonly X87CaseValues _x87;

    public CaseGenerator(int seed)
    {
        _random = new SeededRandom(seed);
        _x87 = new X87CaseValues(_random);
    }

    /// <summary>
    /// x87 instructions (opcodes D8..DF, the 9B-prefixed waiting forms), WAIT, EMMS, FXSAVE and FXRSTOR: their
    /// cases start from a random x87 state instead of FNINIT's.
    /// </summary>
    public static bool IsX87Related(Code code)
    {
        if (code is Code.Wait or Code.Emms or Code.Fxsave_m512byte or Code.Fxsave64_m512byte or Code.Fxrstor_m512byte or Code.Fxrstor64_m512byte)
            return true;
        OpCodeInfo opCode = code.ToOpCode();
        return opCode.Encoding == EncodingKind.Legacy && opCode.Table == OpCodeTableKind.Normal && opCode.OpCode is >= 0xD8 and <= 0xDF;
    }

    /// <summary>Whether <see cref="Generate"/> can build cases for <paramref name="code"/> in the given form.</summary>
    public static bool IsSupported(Code code, OperandForm form = OperandForm.Any)
    {
        OpCodeInfo opCode = code.ToOpCode();
        if (!opCode.IsInstruction || !opCode.Mode64 || opCode.Encoding is not (EncodingKind.Legacy or EncodingKind.VEX)) return false;
        if (code.ToOpCode().IsInputOutput || IsHostDependent(code.Mnemonic())) return false;
        bool hasRm = false, hasMemOnly = false;
        for (int i = 0; i < opCode.OpCount; i++)
        {
            OpCodeOperandKind kind = opCode.GetOpKind(i);
            if (IsRegOrMem(kind)) hasRm = true;
            else if (kind == OpCodeOperandKind.mem) hasMemOnly = true;
            else if (kind is OpCodeOperandKind.seg_rSI or OpCodeOperandKind.es_rDI && IsString(code)
                || kind == OpCodeOperandKind.seg_rBX_al && code == Code.Xlat_m8) hasMemOnly = true;
            else if (!IsRegisterKind(kind) && !IsImmediateKind(kind) && FixedRegister(kind) == Register.None && kind != OpCodeOperandKind.sti_opcode) return false;
        }
        return form switch
        {
            OperandForm.Register => !hasMemOnly,
            OperandForm.Memory => hasRm || hasMemOnly,
            _ => true,
        };
    }

    public InstructionCase Generate(Code code, OperandForm form = OperandForm.Any)
    {
        if (!IsSupported(code, form)) throw new NotSupportedException($"The case generator cannot build {code} in form {form}.");
        OpCodeInfo opCode = code.ToOpCode();
        bool useMemory = form switch { OperandForm.Memory => true, OperandForm.Register => false, _ => _random.Next(2) == 0 };

        var instruction = new Instruction { Code = code };
        var free = new List<int>(Enumerable.Range(0, 16).Where(n => n != GprIndex.Rsp));
        int memoryOperand = -1, memoryOffset = -1;
        for (int i = 0; i < opCode.OpCount; i++)
        {
            OpCodeOperandKind kind = opCode.GetOpKind(i);
            Register fixedRegister = FixedRegister(kind);
            if (fixedRegister != Register.None) SetRegister(ref instruction, i, fixedRegister);
            else if (kind == OpCodeOperandKind.seg_rSI) instruction.SetOpKind(i, OpKind.MemorySegRSI);
            else if (kind == OpCodeOperandKind.es_rDI) instruction.SetOpKind(i, OpKind.MemoryESRDI);
            else if (kind == OpCodeOperandKind.seg_rBX_al)
            {
                instruction.SetOpKind(i, OpKind.Memory);
                instruction.MemoryBase = Register.RBX;
                instruction.MemoryIndex = Register.AL;
                instruction.MemoryIndexScale = 1;
            }
            else if (kind == OpCodeOperandKind.mem || (IsRegOrMem(kind) && useMemory)) { memoryOperand = i; instruction.SetOpKind(i, OpKind.Memory); }
            else if (IsImmediateKind(kind)) SetImmediate(ref instruction, i, kind);
            else if (kind == OpCodeOperandKind.sti_opcode) SetRegister(ref instruction, i, Register.ST0 + _random.Next(8));
            else SetRegister(ref instruction, i, PickRegister(kind, free));
        }

        var gprs = new ulong[InstructionCase.GprCount];
        for (int i = 0; i < gprs.Length; i++) gprs[i] = RandomValue();
        gprs[GprIndex.Rsp] = InstructionCase.CanonicalWindowBase + InstructionCase.DefaultStackOffset;
        ushort pointers = 1 << GprIndex.Rsp;
        pointers |= PrepareImplicitPointers(ref instruction, gprs);

        if (memoryOperand >= 0)
        {
            instruction.MemoryBase = Register.None;
            instruction.MemoryIndex = Register.None;
            instruction.MemoryIndexScale = 1;
            // Registers the instruction touches (implicit ones included) cannot also serve as the base.
            foreach (UsedRegister used in _infoFactory.GetInfo(instruction).GetUsedRegisters())
                free.Remove(GprIndex.Of(used.Register));
            if (free.Count == 0) throw new NotSupportedException($"No free base register for {code}.");
            int baseIndex = free[_random.Next(free.Count)];

            int size = Math.Max(1, instruction.MemorySize.GetSize());
            int alignment = size >= 16 ? 16 : 1;
            int offset = _random.Next(0, (InstructionCase.WindowSize - size) / alignment + 1) * alignment;
            int displacement = _random.Next(3) == 0 ? 0 : _random.Next(-128, 128);
            if (offset - displacement is < 0 or >= InstructionCase.WindowSize) displacement = 0;
            instruction.MemoryBase = GprIndex.ToRegister64(baseIndex);
            instruction.MemoryDisplacement64 = unchecked((ulong)(long)displacement);
            instruction.MemoryDisplSize = displacement == 0 ? 0 : 1;
            gprs[baseIndex] = InstructionCase.CanonicalWindowBase + (ulong)(offset - displacement);
            memoryOffset = offset;
            pointers |= (ushort)(1 << baseIndex);
            if (memoryOperand == 0 && opCode.Mnemonic is Mnemonic.Bt or Mnemonic.Bts or Mnemonic.Btr or Mnemonic.Btc
                && instruction.Op1Kind == OpKind.Register)
                KeepBitStringInWindow(instruction.Op1Register, size, offset, gprs);
        }

        var writer = new BytesWriter();
        if (!Encoder.Create(64, writer).TryEncode(instruction, InstructionCase.CanonicalWindowBase, out _, out string? error))
            throw new NotSupportedException($"Cannot encode {code}: {error}");

        var xmm = new byte[InstructionCase.XmmBytes];
        var memory = new byte[InstructionCase.WindowSize];
        _random.NextBytes(xmm);
        _random.NextBytes(memory);
        MixInFloatEdgeValues(xmm);
        // Only the bytes an explicit memory operand can read (FXRSTOR's 512 at most) need edge values; mixing them
        // into the whole window cost most of the generator's time.
        if (memoryOffset >= 0)
        {
            int start = memoryOffset & ~15;
            MixInFloatEdgeValues(memory.AsSpan(start, Math.Min(FloatEdgeSpan, memory.Length - start)));
        }
        if (code.Mnemonic() is Mnemonic.Popf or Mnemonic.Popfq) memory[InstructionCase.DefaultStackOffset + 1] &= 0xFE; // TF (bit 8)
        uint mxcsr = InstructionCase.DefaultMxcsr | (uint)_random.Next(4) << 13 | (uint)_random.Next(0x40);
        if (_random.Next(4) == 0) mxcsr |= 0x8040; // FTZ and DAZ
        // MXCSR bit 17 is AMD's misaligned-exception mask: valid on AMD hosts only, outside the MXCSR_MASK the
        // emulator implements (FFFFh). An MXCSR operand never sets it, so #GP for reserved bits stays host-independent.
        if (memoryOffset >= 0 && code is Code.Ldmxcsr_m32 or Code.VEX_Vldmxcsr_m32) memory[memoryOffset + 2] &= 0xFD;
        byte[] x87 = InstructionCase.DefaultX87State();
        if (IsX87Related(code))
        {
            _x87.RandomState(x87);
            if (memoryOffset >= 0) _x87.FillMemoryOperand(code, instruction.MemorySize, memory.AsSpan(memoryOffset));
        }
        return new InstructionCase
        {
            X87State = x87,
            Code = writer.Bytes.ToArray(),
            Gprs = gprs,
            Rflags = ((ulong)_random.NextInt64() & InstructionCase.InputFlagsMask) | InstructionCase.FlagsFixedBits,
            Xmm = xmm,
            Mxcsr = mxcsr,
            Memory = memory,
            PointerRegisters = pointers,
        };
    }

    /// <summary>
    /// BT/BTS/BTR/BTC with a memory operand and a register offset address a bit string: the signed offset selects
    /// a unit of the operand's size anywhere before or after the operand. Chooses an offset whose unit lies inside
    /// the window (the register's bits above the operand size stay random: the instruction ignores them).
    /// </summary>
    private void KeepBitStringInWindow(Register offsetRegister, int size, int operandOffset, ulong[] gprs)
    {
        int bits = size * 8;
        long lowestUnit = -(operandOffset / size), highestUnit = (InstructionCase.WindowSize - size - operandOffset) / size;
        long limit = size == 2 ? 2048 : long.MaxValue; // a 16-bit offset reaches 2^15 bits either way
        lowestUnit = Math.Max(lowestUnit, -limit);
        highestUnit = Math.Min(highestUnit, limit - 1);
        long bitOffset = _random.NextInt64(lowestUnit, highestUnit + 1) * bits + _random.Next(bits);
        ulong mask = size == 8 ? ulong.MaxValue : (1UL << bits) - 1;
        int index = GprIndex.Of(offsetRegister);
        gprs[index] = (gprs[index] & ~mask) | ((ulong)bitOffset & mask);
    }

    /// <summary>
    /// Registers that string instructions, XLAT, ENTER and LEAVE use as addresses implicitly: pointed into the window,
    /// with a random repeat prefix and small count for string instructions. Returns their pointer bits.
    /// </summary>
    private ushort PrepareImplicitPointers(ref Instruction instruction, ulong[] gprs)
    {
        Mnemonic mnemonic = instruction.Mnemonic;
        if (IsString(instruction.Code))
        {
            // Data area: the page above the stack, with room for 16 steps of 8 bytes either way.
            const int low = InstructionCase.DefaultStackOffset + 0x100, high = InstructionCase.WindowSize - 0x100;
            gprs[GprIndex.Rsi] = InstructionCase.CanonicalWindowBase + (ulong)_random.Next(low, high);
            gprs[GprIndex.Rdi] = InstructionCase.CanonicalWindowBase + (ulong)_random.Next(low, high);
            gprs[GprIndex.Rcx] = (ulong)_random.Next(0, 17);
            bool compares = mnemonic is Mnemonic.Cmpsb or Mnemonic.Cmpsw or Mnemonic.Cmpsd or Mnemonic.Cmpsq
                or Mnemonic.Scasb or Mnemonic.Scasw or Mnemonic.Scasd or Mnemonic.Scasq;
            switch (_random.Next(compares ? 3 : 2))
            {
                case 1: instruction.HasRepPrefix = true; break;
                case 2: instruction.HasRepnePrefix = true; break;
            }
            return (ushort)(1 << GprIndex.Rsi | 1 << GprIndex.Rdi);
        }
        if (instruction.Code == Code.Xlat_m8)
        {
            gprs[GprIndex.Rbx] = InstructionCase.CanonicalWindowBase + (ulong)_random.Next(0, InstructionCase.WindowSize - 0x100);
            return 1 << GprIndex.Rbx;
        }
        if (mnemonic is Mnemonic.Enter or Mnemonic.Leave)
        {
            gprs[GprIndex.Rbp] = InstructionCase.CanonicalWindowBase + (ulong)_random.Next(0x200, InstructionCase.WindowSize - 8);
            return 1 << GprIndex.Rbp;
        }
        return 0;
    }

    /// <summary>MOVS, STOS, LODS, CMPS, SCAS (not the SSE MOVSD/CMPSD, which share mnemonics): an operand is [RSI] or [RDI].</summary>
    private static bool IsString(Code code)
    {
        OpCodeInfo opCode = code.ToOpCode();
        for (int i = 0; i < opCode.OpCount; i++)
            if (opCode.GetOpKind(i) is OpCodeOperandKind.seg_rSI or OpCodeOperandKind.es_rDI) return true;
        return false;
    }

    private static bool IsHostDependent(Mnemonic mnemonic) => mnemonic is Mnemonic.Cpuid or Mnemonic.Rdtsc
        or Mnemonic.Rdtscp or Mnemonic.Rdrand or Mnemonic.Rdseed or Mnemonic.Rdpid
        // System instructions whose user-mode result depends on the host: its GDT (LAR, LSL, VERR, VERW, and the
        // segment loads of LSS, LFS, LGS), its descriptor-table registers or the kernel's UMIP emulation of them
        // (SGDT, SIDT, SLDT, STR, SMSW), and its XSAVE support (XGETBV reads XCR0 on the host; the emulator does not advertise XSAVE).
        or Mnemonic.Lar or Mnemonic.Lsl or Mnemonic.Verr or Mnemonic.Verw or Mnemonic.Sgdt or Mnemonic.Sidt
        or Mnemonic.Sldt or Mnemonic.Str or Mnemonic.Smsw or Mnemonic.Xgetbv or Mnemonic.Xsetbv
        or Mnemonic.Lss or Mnemonic.Lfs or Mnemonic.Lgs;
    /// Random bytes almost never form the floating-point values whose handling differs (zeros, infinities, QNaN
    /// and SNaN, denormals, the largest and smallest normals, values one rounding step apart): overwrite a share of
    /// 16-byte blocks with lanes of such binary64 or binary32 values, so vector and scalar float forms meet them.
    /// </summary>
    private void MixInFloatEdgeValues(Span<byte> bytes)
    {
        for (int block = 0; block + 16 <= bytes.Length; block += 16)
        {
            switch (_random.Next(4))
            {
                case 0:
                    for (int lane = 0; lane < 2; lane++)
                        if (_random.Next(4) != 0) BitConverter.TryWriteBytes(bytes.Slice(block + lane * 8, 8), DoubleEdgeValue());
                    break;
                case 1:
                    for (int lane = 0; lane < 4; lane++)
                        if (_random.Next(4) != 0) BitConverter.TryWriteBytes(bytes.Slice(block + lane * 4, 4), SingleEdgeValue());
                    break;
            }
        }
    }

    private ulong DoubleEdgeValue()
    {
        ulong sign = (ulong)_random.Next(2) << 63;
        ulong fraction = (ulong)_random.NextInt64() & 0x000F_FFFF_FFFF_FFFFUL;
        ulong magnitude = _random.Next(12) switch
        {
            0 => 0,                                                    // zero
            1 => 0x7FF0_0000_0000_0000UL,                              // infinity
            2 => 0x7FF8_0000_0000_0000UL | (fraction >> 1),            // QNaN with payload
            3 => 0x7FF0_0000_0000_0000UL | (fraction >> 1 | 1),        // SNaN
            4 => fraction | 1,                                         // denormal
            5 => 0x7FEF_FFFF_FFFF_FFFFUL,                              // largest finite
            6 => 0x0010_0000_0000_0000UL | (fraction & 0xF),           // near the smallest normal
            7 => (ulong)_random.Next(0x3F0, 0x410) << 52 | (fraction & ~0xFFFFUL), // ordinary, few significant bits
            8 => (ulong)_random.Next(1, 0x40) << 52 | fraction,        // tiny normals (products underflow)
            9 => (ulong)_random.Next(0x7C0, 0x7FF) << 52 | fraction,   // huge (products overflow)
            10 => 0x3FF0_0000_0000_0000UL | (fraction & 0xF),          // one and its neighbours
            _ => (ulong)_random.Next(0x3C0, 0x460) << 52 | fraction,  // integers range and conversions
        };
        return sign | magnitude;
    }

    private uint SingleEdgeValue()
    {
        uint sign = (uint)_random.Next(2) << 31;
        uint fraction = (uint)_random.Next() & 0x007F_FFFF;
        uint magnitude = _random.Next(12) switch
        {
            0 => 0,
            1 => 0x7F80_0000,
            2 => 0x7FC0_0000 | (fraction >> 1),
            3 => 0x7F80_0000 | (fraction >> 1 | 1),
            4 => fraction | 1,
            5 => 0x7F7F_FFFF,
            6 => 0x0080_0000 | (fraction & 0xF),
            7 => (uint)_random.Next(0x70, 0x90) << 23 | (fraction & ~0xFFFu),
            8 => (uint)_random.Next(1, 0x10) << 23 | fraction,
            9 => (uint)_random.Next(0xF0, 0xFF) << 23 | fraction,
            10 => 0x3F80_0000 | (fraction & 0xF),
            _ => (uint)_random.Next(0x78, 0xC0) << 23 | fraction,
        };
        return sign | magnitude;
    }

    private ulong RandomValue() => _random.Next(8) switch
    {
        0 or 1 => EdgeValues[_random.Next(EdgeValues.Length)],
        2 => (ulong)_random.Next(256),
        _ => (ulong)_random.NextInt64() ^ ((ulong)_random.Next(2) << 63),
    };

    private Register PickRegister(OpCodeOperandKind kind, List<int> free)
    {
        if (kind is OpCodeOperandKind.xmm_reg or OpCodeOperandKind.xmm_rm or OpCodeOperandKind.xmm_vvvv or OpCodeOperandKind.xmm_or_mem)
            return Register.XMM0 + _random.Next(16);
        int number = free[_random.Next(free.Count)];
        free.Remove(number);
        return kind switch
        {
            OpCodeOperandKind.r8_reg or OpCodeOperandKind.r8_opcode or OpCodeOperandKind.r8_or_mem =>
                number < 4 ? Register.AL + number : number < 8 ? Register.SPL + (number - 4) : Register.R8L + (number - 8),
            OpCodeOperandKind.r16_reg or OpCodeOperandKind.r16_opcode or OpCodeOperandKind.r16_rm or OpCodeOperandKind.r16_reg_mem or OpCodeOperandKind.r16_or_mem => Register.AX + number,
            OpCodeOperandKind.r32_reg or OpCodeOperandKind.r32_opcode or OpCodeOperandKind.r32_rm or OpCodeOperandKind.r32_reg_mem
                or OpCodeOperandKind.r32_vvvv or OpCodeOperandKind.r32_or_mem => Register.EAX + number,
            _ => Register.RAX + number,
        };
    }

    private static void SetRegister(ref Instruction instruction, int operand, Register register)
    {
        instruction.SetOpKind(operand, OpKind.Register);
        instruction.SetOpRegister(operand, register);
    }

    private void SetImmediate(ref Instruction instruction, int operand, OpCodeOperandKind kind)
    {
        ulong value = RandomValue();
        (OpKind opKind, ulong immediate) = kind switch
        {
            OpCodeOperandKind.imm8_const_1 => (OpKind.Immediate8, 1UL),
            OpCodeOperandKind.imm8 => (OpKind.Immediate8, value & 0xFF),
            OpCodeOperandKind.imm8sex16 => (OpKind.Immediate8to16, (ulong)(long)(sbyte)value),
            OpCodeOperandKind.imm8sex32 => (OpKind.Immediate8to32, (ulong)(long)(sbyte)value),
            OpCodeOperandKind.imm8sex64 => (OpKind.Immediate8to64, (ulong)(long)(sbyte)value),
            OpCodeOperandKind.imm16 => (OpKind.Immediate16, value & 0xFFFF),
            OpCodeOperandKind.imm32 => (OpKind.Immediate32, value & 0xFFFF_FFFF),
            OpCodeOperandKind.imm32sex64 => (OpKind.Immediate32to64, (ulong)(long)(int)value),
            _ => (OpKind.Immediate64, value),
        };
        // ENTER imm16, imm8: Iced names a second immediate Immediate8_2nd.
        if (opKind == OpKind.Immediate8 && operand > 0 && instruction.GetOpKind(operand - 1) is OpKind.Immediate16 or OpKind.Immediate8)
            opKind = OpKind.Immediate8_2nd;
        instruction.SetOpKind(operand, opKind);
        instruction.SetImmediate(operand, immediate);
    }

    private static bool IsRegOrMem(OpCodeOperandKind kind) => kind is OpCodeOperandKind.r8_or_mem or OpCodeOperandKind.r16_or_mem
        or OpCodeOperandKind.r32_or_mem or OpCodeOperandKind.r64_or_mem or OpCodeOperandKind.xmm_or_mem;

    private static bool IsRegisterKind(OpCodeOperandKind kind) => kind is OpCodeOperandKind.r8_reg or OpCodeOperandKind.r8_opcode
        or OpCodeOperandKind.r16_reg or OpCodeOperandKind.r16_opcode or OpCodeOperandKind.r16_rm or OpCodeOperandKind.r16_reg_mem
        or OpCodeOperandKind.r32_reg or OpCodeOperandKind.r32_opcode or OpCodeOperandKind.r32_rm or OpCodeOperandKind.r32_reg_mem or OpCodeOperandKind.r32_vvvv
        or OpCodeOperandKind.r64_reg or OpCodeOperandKind.r64_opcode or OpCodeOperandKind.r64_rm or OpCodeOperandKind.r64_reg_mem or OpCodeOperandKind.r64_vvvv
        or OpCodeOperandKind.xmm_reg or OpCodeOperandKind.xmm_rm or OpCodeOperandKind.xmm_vvvv;

    private static bool IsImmediateKind(OpCodeOperandKind kind) => kind is OpCodeOperandKind.imm8 or OpCodeOperandKind.imm8_const_1
        or OpCodeOperandKind.imm8sex16 or OpCodeOperandKind.imm8sex32 or OpCodeOperandKind.imm8sex64 or OpCodeOperandKind.imm16
        or OpCodeOperandKind.imm32 or OpCodeOperandKind.imm32sex64 or OpCodeOperandKind.imm64;

    private static Register FixedRegister(OpCodeOperandKind kind) => kind switch
    {
        OpCodeOperandKind.al => Register.AL,
        OpCodeOperandKind.cl => Register.CL,
        OpCodeOperandKind.ax => Register.AX,
        OpCodeOperandKind.dx => Register.DX,
        OpCodeOperandKind.eax => Register.EAX,
        OpCodeOperandKind.rax => Register.RAX,
        OpCodeOperandKind.st0 => Register.ST0,
        _ => Register.None,
    };

    private sealed class BytesWriter : CodeWriter
    {
        public readonly List<byte> Bytes = [];
        public override void WriteByte(byte value) => Bytes.Add(value);
    }
}
