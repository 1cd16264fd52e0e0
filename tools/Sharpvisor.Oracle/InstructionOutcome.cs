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
    /// <summary>The x87 state afterwards, in the layout of <see cref="InstructionCase.X87State"/>.</summary>
    public byte[] X87State { get; init; } = new byte[InstructionCase.X87StateBytes];

    public static InstructionOutcome CreateBuffers() => new()
    {
        Gprs = new ulong[InstructionCase.GprCount],
        Xmm = new byte[InstructionCase.XmmBytes],
        Memory = new byte[InstructionCase.WindowSize],
        X87State = new byte[InstructionCase.X87StateBytes],
    };

    public InstructionOutcome DeepCopy() => this with
    {
        Gprs = (ulong[])Gprs.Clone(),
        Xmm = (byte[])Xmm.Clone(),
        Memory = (byte[])Memory.Clone(),
        X87State = (byte[])X87State.Clone(),
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
        DescribeX87Differences(X87State, other.X87State, text);
        int firstMemoryDifference = Memory.AsSpan().CommonPrefixLength(other.Memory);
        if (firstMemoryDifference < Math.Min(Memory.Length, other.Memory.Length) || Memory.Length != other.Memory.Length)
            text.AppendLine($"memory differs from window offset 0x{firstMemoryDifference:X}");
        return text.ToString();
    }

    /// <summary>
    /// FCW, FSW (TOP and C0..C3 included), the abridged tag byte and ST0..ST7 (10 bytes each). FOP, FIP and FDP are
    /// not compared: they hold host code addresses, and AMD processors save them only while an exception is pending.
    /// </summary>
    private static void DescribeX87Differences(byte[] mine, byte[] theirs, StringBuilder text)
    {
        ushort fcw = BitConverter.ToUInt16(mine, 0), otherFcw = BitConverter.ToUInt16(theirs, 0);
        ushort fsw = BitConverter.ToUInt16(mine, 2), otherFsw = BitConverter.ToUInt16(theirs, 2);
        if (fcw != otherFcw) text.AppendLine($"fcw: 0x{fcw:X4} vs 0x{otherFcw:X4}");
        if (fsw != otherFsw) text.AppendLine($"fsw: 0x{fsw:X4} vs 0x{otherFsw:X4}");
        if (mine[4] != theirs[4]) text.AppendLine($"ftw: 0x{mine[4]:X2} vs 0x{theirs[4]:X2}");
        for (int k = 0; k < 8; k++)
        {
            ReadOnlySpan<byte> a = mine.AsSpan(32 + 16 * k, 10), b = theirs.AsSpan(32 + 16 * k, 10);
            if (!a.SequenceEqual(b))
                text.AppendLine($"st{k}: {BitConverter.ToUInt16(mine, 40 + 16 * k):X4}:{BitConverter.ToUInt64(mine, 32 + 16 * k):X16} vs {BitConverter.ToUInt16(theirs, 40 + 16 * k):X4}:{BitConverter.ToUInt64(theirs, 32 + 16 * k):X16}");
        }
    }
}
