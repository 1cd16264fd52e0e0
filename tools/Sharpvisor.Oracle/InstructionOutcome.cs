using System.Text;

namespace Sharpvisor.Oracle;

/// <summary>
/// The architectural state after one <see cref="InstructionCase"/> ran (or the state at the fault when
/// <see cref="Fault"/> is set: faults leave the inputs unchanged, traps such as int3 report the state after the
/// instruction). Registers and the fault address use canonical window addresses, like the case.
/// Runners fill a reusable instance in place (<see cref="CreateBuffers"/>) to stay allocation-free;
/// <see cref="DeepCopy"/> keeps a copy.
/// </summary>
public sealed record InstructionOutcome
{
    public const int CurrentVersion = 1;

    /// <summary>RFLAGS bits an outcome reports: CF PF AF ZF SF DF OF and the fixed bit 1 (IF, RF etc. are host state).</summary>
    public const ulong OutputFlagsMask = InstructionCase.InputFlagsMask | InstructionCase.FlagsFixedBits;

    public int Version { get; init; } = CurrentVersion;
    public required ulong[] Gprs { get; init; }
    public ulong Rflags { get; set; }
    public required byte[] Xmm { get; init; }
    public uint Mxcsr { get; set; }
    public required byte[] Memory { get; init; }
    public InstructionFault Fault { get; set; }

    public static InstructionOutcome CreateBuffers() => new()
    {
        Gprs = new ulong[InstructionCase.GprCount],
        Xmm = new byte[InstructionCase.XmmBytes],
        Memory = new byte[InstructionCase.WindowSize],
    };

    public InstructionOutcome DeepCopy() => this with
    {
        Gprs = (ulong[])Gprs.Clone(),
        Xmm = (byte[])Xmm.Clone(),
        Memory = (byte[])Memory.Clone(),
    };

    public UInt128 GetXmm(int index) => GprIndex.ReadXmm(Xmm, index);

    /// <summary>Content comparison: an empty string when both outcomes agree, else one line per difference.</summary>
    public string DescribeDifferences(InstructionOutcome other, ulong flagsMask = OutputFlagsMask)
    {
        var text = new StringBuilder();
        if (Fault.Kind != other.Fault.Kind) text.AppendLine($"fault: {Fault} vs {other.Fault}");
        for (int i = 0; i < InstructionCase.GprCount; i++)
            if (Gprs[i] != other.Gprs[i]) text.AppendLine($"{GprIndex.ToRegister64(i)}: 0x{Gprs[i]:X16} vs 0x{other.Gprs[i]:X16}");
        if (((Rflags ^ other.Rflags) & flagsMask) != 0) text.AppendLine($"rflags: 0x{Rflags & flagsMask:X} vs 0x{other.Rflags & flagsMask:X}");
        for (int i = 0; i < InstructionCase.XmmCount; i++)
            if (GetXmm(i) != other.GetXmm(i)) text.AppendLine($"xmm{i}: 0x{GetXmm(i):X32} vs 0x{other.GetXmm(i):X32}");
        if (Mxcsr != other.Mxcsr) text.AppendLine($"mxcsr: 0x{Mxcsr:X} vs 0x{other.Mxcsr:X}");
        int firstMemoryDifference = Memory.AsSpan().CommonPrefixLength(other.Memory);
        if (firstMemoryDifference < Math.Min(Memory.Length, other.Memory.Length) || Memory.Length != other.Memory.Length)
            text.AppendLine($"memory differs from window offset 0x{firstMemoryDifference:X}");
        return text.ToString();
    }
}
