using System.Buffers.Binary;
using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;

namespace Sharpvisor.Engines.Emulator.Instructions.X87;

/// <summary>
/// FXSAVE/FXRSTOR and their REX.W forms FXSAVE64/FXRSTOR64 (64-bit FIP/FDP). #NM when CR0.EM or CR0.TS is set,
/// #GP(0) for an operand not aligned on 16 bytes, and FXRSTOR raises #GP(0) for MXCSR bits outside MXCSR_MASK.
/// MXCSR and XMM0..15 are saved and restored only when CR4.OSFXSR is set (the SDM leaves them implementation
/// dependent otherwise; here those bytes are left alone). Neither instruction checks for pending x87 exceptions.
/// AMD's fast FXSAVE (EFER.FFXSR) is not implemented: the full image is always used.
/// </summary>
public static class FxsaveInstructions
{
    public const ulong Cr4Osfxsr = 1 << 9;

    public static unsafe void Register(InstructionTable t)
    {
        t.Set(Code.Fxsave_m512byte, &Save);
        t.Set(Code.Fxsave64_m512byte, &Save);
        t.Set(Code.Fxrstor_m512byte, &Restore);
        t.Set(Code.Fxrstor64_m512byte, &Restore);
    }

    private static ulong CheckedAddress(CpuCore cpu, in Instruction i)
    {
        if ((cpu.Cr0 & (X87Core.Cr0Emulation | X87Core.Cr0TaskSwitched)) != 0) throw new GuestFault(GuestFault.DeviceNotAvailable);
        ulong address = Operands.EffectiveAddress(cpu, i);
        if ((address & 15) != 0) throw new GuestFault(GuestFault.GeneralProtection, 0);
        return address;
    }

    private static void Save(CpuCore cpu, ref Instruction i)
    {
        ulong address = CheckedAddress(cpu, i);
        bool sse = (cpu.Cr4 & Cr4Osfxsr) != 0;
        Span<byte> image = stackalloc byte[FxsaveImage.WrittenSize];
        // Without OSFXSR the MXCSR and XMM bytes keep what memory held.
        if (!sse) cpu.Memory.ReadBytes(address, image);
        FxsaveImage.SaveX87(cpu, image, i.Code == Code.Fxsave64_m512byte);
        if (sse) FxsaveImage.SaveSse(cpu, image);
        cpu.Memory.WriteBytes(address, sse ? image : image[..FxsaveImage.X87Size]);
    }

    private static void Restore(CpuCore cpu, ref Instruction i)
    {
        ulong address = CheckedAddress(cpu, i);
        bool sse = (cpu.Cr4 & Cr4Osfxsr) != 0;
        Span<byte> image = stackalloc byte[FxsaveImage.WrittenSize];
        cpu.Memory.ReadBytes(address, image);
        if (sse && (BinaryPrimitives.ReadUInt32LittleEndian(image[FxsaveImage.MxcsrOffset..]) & ~FxsaveImage.MxcsrMask) != 0)
            throw new GuestFault(GuestFault.GeneralProtection, 0);
        FxsaveImage.RestoreX87(cpu, image, i.Code == Code.Fxrstor64_m512byte);
        if (sse) FxsaveImage.RestoreSse(cpu, image);
    }
}
