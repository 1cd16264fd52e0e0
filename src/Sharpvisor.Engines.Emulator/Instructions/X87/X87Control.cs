using System.Buffers.Binary;
using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;

namespace Sharpvisor.Engines.Emulator.Instructions.X87;

/// <summary>
/// The control instructions: FNINIT FNCLEX FLDCW FNSTCW FNSTSW FNSTENV FLDENV FNSAVE FRSTOR, WAIT/FWAIT and MMX's
/// EMMS. The waiting forms FINIT, FSTSW... are WAIT followed by these (the decoder returns them as two instructions).
/// Loading an environment derives ES and B from the loaded flags and masks, as FLDCW does.
/// <para>The environment images use the 32-bit protected-mode layout (28 bytes; 14 with a 66h prefix). The unused
/// upper halves of its 32-bit slots read FFFFh as on hardware. FCS and FDS are stored as 0, as on processors that
/// deprecate them (CPUID.(EAX=7,ECX=0):EBX[13]); the emulator does not track the selectors.</para>
/// </summary>
public static class X87Control
{
    /// <summary>FCW bits that exist: masks, precision, rounding, infinity control; bit 6 always reads 1.</summary>
    public const int ControlWordWritable = 0x1F3F, ControlWordFixedOnes = 0x40;

    public static unsafe void Register(InstructionTable t)
    {
        t.Set(Code.Fninit, &Initialize);
        t.Set(Code.Fnclex, &ClearExceptions);
        t.Set(Code.Fldcw_m2byte, &LoadControlWord);
        t.Set(Code.Fnstcw_m2byte, &StoreControlWord);
        t.Set(Code.Fnstsw_m2byte, &StoreStatusWord);
        t.Set(Code.Fnstsw_AX, &StoreStatusWord);
        t.Set(Code.Wait, &Wait);
        foreach (Code code in new[] { Code.Fnstenv_m14byte, Code.Fnstenv_m28byte })
            t.Set(code, &StoreEnvironment);
        t.Set(Code.Fldenv_m14byte, &LoadEnvironment);
        t.Set(Code.Fldenv_m28byte, &LoadEnvironment);
        foreach (Code code in new[] { Code.Fnsave_m94byte, Code.Fnsave_m108byte })
            t.Set(code, &Save);
        t.Set(Code.Frstor_m94byte, &Restore);
        t.Set(Code.Frstor_m108byte, &Restore);
        t.Set(Code.Emms, &EmptyMmxState);
    }

    public static ushort SanitizeControlWord(int value) => (ushort)((value & ControlWordWritable) | ControlWordFixedOnes);

    private static void Initialize(CpuCore cpu, ref Instruction i)
    {
        X87Core.BeginControl(cpu);
        X87Core.Initialize(cpu);
    }

    private static void ClearExceptions(CpuCore cpu, ref Instruction i)
    {
        X87Core.BeginControl(cpu);
        cpu.FpuStatusWord &= unchecked((ushort)~(FpuStatus.ExceptionMask | FpuStatus.StackFault | FpuStatus.ErrorSummary | FpuStatus.Busy));
    }

    private static void LoadControlWord(CpuCore cpu, ref Instruction i)
    {
        X87Core.BeginWaiting(cpu);
        cpu.FpuControlWord = SanitizeControlWord((int)cpu.Memory.Read(Operands.EffectiveAddress(cpu, i), 2));
        X87Core.UpdateErrorSummary(cpu);
    }

    private static void StoreControlWord(CpuCore cpu, ref Instruction i)
    {
        X87Core.BeginControl(cpu);
        cpu.Memory.Write(Operands.EffectiveAddress(cpu, i), 2, cpu.FpuControlWord);
    }

    private static void StoreStatusWord(CpuCore cpu, ref Instruction i)
    {
        X87Core.BeginControl(cpu);
        if (i.Op0Kind == OpKind.Register) Operands.WriteRegister(cpu, Iced.Intel.Register.AX, cpu.FpuStatusWord);
        else cpu.Memory.Write(Operands.EffectiveAddress(cpu, i), 2, cpu.FpuStatusWord);
    }

    private static void Wait(CpuCore cpu, ref Instruction i)
    {
        if ((cpu.Cr0 & (X87Core.Cr0MonitorCoprocessor | X87Core.Cr0TaskSwitched)) == (X87Core.Cr0MonitorCoprocessor | X87Core.Cr0TaskSwitched))
            throw new GuestFault(GuestFault.DeviceNotAvailable);
        if ((cpu.FpuStatusWord & FpuStatus.ErrorSummary) != 0) throw new GuestFault(GuestFault.FloatingPoint);
    }

    private static bool IsShortEnvironment(in Instruction i) => i.Code is Code.Fnstenv_m14byte or Code.Fldenv_m14byte
        or Code.Fnsave_m94byte or Code.Frstor_m94byte;

    /// <summary>Writes the environment (14 or 28 bytes) into <paramref name="image"/>.</summary>
    private static int WriteEnvironment(CpuCore cpu, Span<byte> image, bool shortForm)
    {
        ushort tags = X87Core.FullTagWord(cpu);
        if (shortForm)
        {
            BinaryPrimitives.WriteUInt16LittleEndian(image, cpu.FpuControlWord);
            BinaryPrimitives.WriteUInt16LittleEndian(image[2..], cpu.FpuStatusWord);
            BinaryPrimitives.WriteUInt16LittleEndian(image[4..], tags);
            BinaryPrimitives.WriteUInt16LittleEndian(image[6..], (ushort)cpu.FpuLastInstructionPointer);
            BinaryPrimitives.WriteUInt16LittleEndian(image[8..], 0);
            BinaryPrimitives.WriteUInt16LittleEndian(image[10..], (ushort)cpu.FpuLastDataPointer);
            BinaryPrimitives.WriteUInt16LittleEndian(image[12..], 0);
            return 14;
        }
        BinaryPrimitives.WriteUInt32LittleEndian(image, 0xFFFF_0000u | cpu.FpuControlWord);
        BinaryPrimitives.WriteUInt32LittleEndian(image[4..], 0xFFFF_0000u | cpu.FpuStatusWord);
        BinaryPrimitives.WriteUInt32LittleEndian(image[8..], 0xFFFF_0000u | tags);
        BinaryPrimitives.WriteUInt32LittleEndian(image[12..], (uint)cpu.FpuLastInstructionPointer);
        BinaryPrimitives.WriteUInt32LittleEndian(image[16..], (uint)(cpu.FpuLastOpcode & 0x7FF) << 16);
        BinaryPrimitives.WriteUInt32LittleEndian(image[20..], (uint)cpu.FpuLastDataPointer);
        BinaryPrimitives.WriteUInt32LittleEndian(image[24..], 0xFFFF_0000u);
        return 28;
    }

    private static int ReadEnvironment(CpuCore cpu, ReadOnlySpan<byte> image, bool shortForm)
    {
        cpu.FpuControlWord = SanitizeControlWord(BinaryPrimitives.ReadUInt16LittleEndian(image));
        cpu.FpuStatusWord = BinaryPrimitives.ReadUInt16LittleEndian(image[(shortForm ? 2 : 4)..]);
        ushort tags = BinaryPrimitives.ReadUInt16LittleEndian(image[(shortForm ? 4 : 8)..]);
        cpu.FpuTagValid = X87Core.AbridgedTags(tags);
        if (shortForm)
        {
            cpu.FpuLastInstructionPointer = BinaryPrimitives.ReadUInt16LittleEndian(image[6..]);
            cpu.FpuLastDataPointer = BinaryPrimitives.ReadUInt16LittleEndian(image[10..]);
            return 14;
        }
        cpu.FpuLastInstructionPointer = BinaryPrimitives.ReadUInt32LittleEndian(image[12..]);
        cpu.FpuLastOpcode = (ushort)((BinaryPrimitives.ReadUInt32LittleEndian(image[16..]) >> 16) & 0x7FF);
        cpu.FpuLastDataPointer = BinaryPrimitives.ReadUInt32LittleEndian(image[20..]);
        return 28;
    }

    private static void StoreEnvironment(CpuCore cpu, ref Instruction i)
    {
        X87Core.BeginControl(cpu);
        Span<byte> image = stackalloc byte[28];
        int length = WriteEnvironment(cpu, image, IsShortEnvironment(i));
        cpu.Memory.WriteBytes(Operands.EffectiveAddress(cpu, i), image[..length]);
        cpu.FpuControlWord |= FpuStatus.ExceptionMask; // FNSTENV masks every exception after storing
        X87Core.UpdateErrorSummary(cpu);
    }

    private static void LoadEnvironment(CpuCore cpu, ref Instruction i)
    {
        X87Core.BeginWaiting(cpu);
        Span<byte> image = stackalloc byte[28];
        bool shortForm = IsShortEnvironment(i);
        cpu.Memory.ReadBytes(Operands.EffectiveAddress(cpu, i), image[..(shortForm ? 14 : 28)]);
        ReadEnvironment(cpu, image, shortForm);
        X87Core.UpdateErrorSummary(cpu);
    }

    private static void Save(CpuCore cpu, ref Instruction i)
    {
        X87Core.BeginControl(cpu);
        Span<byte> image = stackalloc byte[108];
        int length = WriteEnvironment(cpu, image, IsShortEnvironment(i));
        for (int k = 0; k < 8; k++) X87Core.St(cpu, k).Write(image[(length + 10 * k)..]);
        cpu.Memory.WriteBytes(Operands.EffectiveAddress(cpu, i), image[..(length + 80)]);
        X87Core.Initialize(cpu);
    }

    private static void Restore(CpuCore cpu, ref Instruction i)
    {
        X87Core.BeginWaiting(cpu);
        Span<byte> image = stackalloc byte[108];
        bool shortForm = IsShortEnvironment(i);
        int total = (shortForm ? 14 : 28) + 80;
        cpu.Memory.ReadBytes(Operands.EffectiveAddress(cpu, i), image[..total]);
        int length = ReadEnvironment(cpu, image, shortForm);
        for (int k = 0; k < 8; k++) X87Core.St(cpu, k) = Float80.Read(image[(length + 10 * k)..]);
        X87Core.UpdateErrorSummary(cpu);
    }

    /// <summary>EMMS: every tag empty and TOP 0 (SDM table 9-2); #UD with CR0.EM, #NM with CR0.TS, #MF when an x87 exception is pending.</summary>
    private static void EmptyMmxState(CpuCore cpu, ref Instruction i)
    {
        if ((cpu.Cr0 & X87Core.Cr0Emulation) != 0) throw new GuestFault(GuestFault.InvalidOpcode);
        if ((cpu.Cr0 & X87Core.Cr0TaskSwitched) != 0) throw new GuestFault(GuestFault.DeviceNotAvailable);
        if ((cpu.FpuStatusWord & FpuStatus.ErrorSummary) != 0) throw new GuestFault(GuestFault.FloatingPoint);
        cpu.FpuTagValid = 0;
        X87Core.SetTop(cpu, 0);
    }
}
