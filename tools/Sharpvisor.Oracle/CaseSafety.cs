using System.Runtime.Intrinsics.X86;
using Iced.Intel;

namespace Sharpvisor.Oracle;

/// <summary>
/// Decides conservatively whether a case can run in-process on <see cref="Native.NativeInstructionRunner"/>:
/// true only if the instruction cannot fault on this host with these inputs. Anything doubtful (division, control
/// flow, privileged or I/O instructions, CPU features the host lacks, x87, FS/GS, string repeats, any memory
/// access not wholly inside the window, a 16-byte or larger access that is not 16-byte aligned, unmasked MXCSR
/// exceptions) is unsafe and belongs in <see cref="Isolation.IsolatedNativeRunner"/>.
/// </summary>
public static class CaseSafety
{
    public static bool IsKnownSafe(InstructionCase instructionCase)
    {
        instructionCase.Validate();
        var decoder = Decoder.Create(64, new ByteArrayCodeReader(instructionCase.Code), InstructionCase.CanonicalWindowBase - 0x1000);
        decoder.Decode(out Instruction instruction);
        if (instruction.IsInvalid || instruction.Length != instructionCase.Code.Length) return false;
        if (instruction.FlowControl != FlowControl.Next || instruction.IsPrivileged) return false;
        if (instruction.Mnemonic is Mnemonic.Div or Mnemonic.Idiv or Mnemonic.Enter or Mnemonic.Xlatb) return false;
        if (instruction.OpCode.IsInputOutput || instruction.IsIPRelativeMemoryOperand) return false;
        if (instruction.HasRepPrefix || instruction.HasRepnePrefix) return false;
        if (instruction.Encoding is not (EncodingKind.Legacy or EncodingKind.VEX)) return false;
        if (instruction.SegmentPrefix is Register.FS or Register.GS) return false;
        foreach (CpuidFeature feature in instruction.CpuidFeatures)
            if (!HostSupports(feature)) return false;
        if ((instructionCase.Mxcsr & 0x1F80) != 0x1F80 || (instructionCase.Mxcsr & ~0xFFFFu) != 0) return false;

        ulong[] gprs = instructionCase.Gprs;
        InstructionInfo info = new InstructionInfoFactory().GetInfo(instruction);
        foreach (UsedMemory memory in info.GetUsedMemory())
        {
            if (memory.Segment is Register.FS or Register.GS) return false;
            if (!memory.TryGetVirtualAddress(0, out ulong address, (Register register, int _, int _, out ulong value) =>
                {
                    value = 0;
                    if (register.IsSegmentRegister()) return true; // flat
                    int index = GprIndex.Of(register);
                    if (index < 0) return false;
                    ulong full = gprs[index];
                    value = register.GetSize() switch { 8 => full, 4 => (uint)full, 2 => (ushort)full, _ => register is >= Register.AH and <= Register.BH ? (byte)(full >> 8) : (byte)full };
                    return true;
                }))
                return false;
            int size = memory.MemorySize.GetSize();
            if (size == 0) return false;
            ulong offset = address - InstructionCase.CanonicalWindowBase;
            if (offset > InstructionCase.WindowSize || (ulong)size > InstructionCase.WindowSize - offset) return false;
            if (size >= 16 && (offset & 15) != 0) return false;
        }
        return true;
    }

    private static bool HostSupports(CpuidFeature feature) => feature switch
    {
        CpuidFeature.INTEL8086 or CpuidFeature.INTEL186 or CpuidFeature.INTEL286 or CpuidFeature.INTEL386 or CpuidFeature.INTEL486
            or CpuidFeature.X64 or CpuidFeature.CMOV or CpuidFeature.CX8 or CpuidFeature.MULTIBYTENOP
            or CpuidFeature.SSE or CpuidFeature.SSE2 => true,
        CpuidFeature.SSE3 => Sse3.IsSupported,
        CpuidFeature.SSSE3 => Ssse3.IsSupported,
        CpuidFeature.SSE4_1 => Sse41.IsSupported,
        CpuidFeature.SSE4_2 => Sse42.IsSupported,
        CpuidFeature.POPCNT => Popcnt.IsSupported,
        CpuidFeature.LZCNT => Lzcnt.IsSupported,
        CpuidFeature.BMI1 => Bmi1.IsSupported,
        CpuidFeature.BMI2 => Bmi2.IsSupported,
        CpuidFeature.AVX => Avx.IsSupported,
        CpuidFeature.AVX2 => Avx2.IsSupported,
        CpuidFeature.FMA => Fma.IsSupported,
        CpuidFeature.PCLMULQDQ => Pclmulqdq.IsSupported,
        CpuidFeature.AES => Aes.IsSupported,
        _ => false,
    };
}
