using System.Buffers.Binary;
using System.Text;

namespace Sharpvisor.Oracle.Protocol;

/// <summary>
/// The worker's binary protocol (little-endian, fixed-size records so both sides read with one ReadExactly).
/// <para>Each direction starts with a 8-byte header: u32 magic (<see cref="RequestMagic"/> "SVOQ" from the parent,
/// <see cref="ResponseMagic"/> "SVOR" from the worker), u16 <see cref="Version"/>, u16 flags (response only:
/// bit 0 = the worker recovers faults itself, so a faulting case yields an outcome instead of killing it).</para>
/// <para>Then records, each led by a tag byte:
/// <list type="bullet">
/// <item><see cref="CaseTag"/> (parent to worker, <see cref="CaseRecordSize"/> bytes in all): u8 code length,
/// code padded to 15 bytes, 16 x u64 GPRs (hardware order), u64 RFLAGS, u32 MXCSR, u16 pointer-register mask,
/// u16 zero, 256 bytes XMM0..15, <see cref="InstructionCase.WindowSize"/> bytes of window, <see cref="InstructionCase.X87StateBytes"/> bytes of x87 state.</item>
/// <item><see cref="EndTag"/> (parent to worker, 1 byte): exit cleanly. End of input does the same.</item>
/// <item><see cref="OutcomeTag"/> (worker to parent, <see cref="OutcomeRecordSize"/> bytes): u8 <see cref="FaultKind"/>,
/// u16 zero, i32 vector, i32 signal, i32 si_code, u64 error code, u64 fault address, 16 x u64 GPRs, u64 RFLAGS,
/// u32 MXCSR, u32 zero, 256 bytes XMM, window bytes, x87 state bytes.</item>
/// <item><see cref="ErrorTag"/> (worker to parent): u16 length, UTF-8 message; the case was malformed and the worker exits.</item>
/// </list></para>
/// The worker flushes after every outcome, so when it dies the parent knows exactly which case was running.
/// </summary>
public static class OracleWireFormat
{
    public const uint RequestMagic = 0x51_4F_56_53;  // "SVOQ"
    public const uint ResponseMagic = 0x52_4F_56_53; // "SVOR"
    public const ushort Version = 2;
    public const ushort FlagFaultRecovery = 1;
    public const int HeaderSize = 8;

    public const byte CaseTag = 0x01, OutcomeTag = 0x02, ErrorTag = 0x03, EndTag = 0x7F;

    public const int CaseRecordSize = 1 + 1 + InstructionCase.MaxInstructionLength + 8 * InstructionCase.GprCount + 8 + 4 + 2 + 2
        + InstructionCase.XmmBytes + InstructionCase.WindowSize + InstructionCase.X87StateBytes;
    public const int OutcomeRecordSize = 1 + 1 + 2 + 4 + 4 + 4 + 8 + 8 + 8 * InstructionCase.GprCount + 8 + 4 + 4
        + InstructionCase.XmmBytes + InstructionCase.WindowSize + InstructionCase.X87StateBytes;

    public static void WriteHeader(Span<byte> destination, uint magic, ushort flags)
    {
        BinaryPrimitives.WriteUInt32LittleEndian(destination, magic);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[4..], Version);
        BinaryPrimitives.WriteUInt16LittleEndian(destination[6..], flags);
    }

    /// <summary>Checks magic and version; returns the flags.</summary>
    public static ushort ReadHeader(ReadOnlySpan<byte> source, uint expectedMagic)
    {
        uint magic = BinaryPrimitives.ReadUInt32LittleEndian(source);
        ushort version = BinaryPrimitives.ReadUInt16LittleEndian(source[4..]);
        if (magic != expectedMagic) throw new InvalidDataException($"Bad oracle stream magic 0x{magic:X8}.");
        if (version != Version) throw new InvalidDataException($"Unsupported oracle protocol version {version}.");
        return BinaryPrimitives.ReadUInt16LittleEndian(source[6..]);
    }

    public static void WriteCase(Span<byte> destination, InstructionCase instructionCase)
    {
        instructionCase.Validate();
        destination[..CaseRecordSize].Clear();
        destination[0] = CaseTag;
        destination[1] = (byte)instructionCase.Code.Length;
        instructionCase.Code.CopyTo(destination[2..]);
        int at = 2 + InstructionCase.MaxInstructionLength;
        foreach (ulong value in instructionCase.Gprs) { BinaryPrimitives.WriteUInt64LittleEndian(destination[at..], value); at += 8; }
        BinaryPrimitives.WriteUInt64LittleEndian(destination[at..], instructionCase.Rflags); at += 8;
        BinaryPrimitives.WriteUInt32LittleEndian(destination[at..], instructionCase.Mxcsr); at += 4;
        BinaryPrimitives.WriteUInt16LittleEndian(destination[at..], instructionCase.PointerRegisters); at += 4;
        instructionCase.Xmm.CopyTo(destination[at..]); at += InstructionCase.XmmBytes;
        instructionCase.Memory.CopyTo(destination[at..]); at += InstructionCase.WindowSize;
        instructionCase.X87State.CopyTo(destination[at..]);
    }

    /// <summary>Decodes a case record (tag included).</summary>
    public static InstructionCase ReadCase(ReadOnlySpan<byte> source)
    {
        if (source[0] != CaseTag) throw new InvalidDataException($"Expected a case record, got tag 0x{source[0]:X2}.");
        int length = source[1];
        if (length is < 1 or > InstructionCase.MaxInstructionLength) throw new InvalidDataException($"Bad instruction length {length}.");
        int at = 2 + InstructionCase.MaxInstructionLength;
        var gprs = new ulong[InstructionCase.GprCount];
        for (int i = 0; i < gprs.Length; i++) { gprs[i] = BinaryPrimitives.ReadUInt64LittleEndian(source[at..]); at += 8; }
        ulong rflags = BinaryPrimitives.ReadUInt64LittleEndian(source[at..]); at += 8;
        uint mxcsr = BinaryPrimitives.ReadUInt32LittleEndian(source[at..]); at += 4;
        ushort pointers = BinaryPrimitives.ReadUInt16LittleEndian(source[at..]); at += 4;
        byte[] xmm = source.Slice(at, InstructionCase.XmmBytes).ToArray(); at += InstructionCase.XmmBytes;
        byte[] memory = source.Slice(at, InstructionCase.WindowSize).ToArray(); at += InstructionCase.WindowSize;
        byte[] x87 = source.Slice(at, InstructionCase.X87StateBytes).ToArray();
        return new InstructionCase
        {
            Code = source.Slice(2, length).ToArray(),
            Gprs = gprs,
            Rflags = rflags,
            Mxcsr = mxcsr,
            PointerRegisters = pointers,
            Xmm = xmm,
            Memory = memory,
            X87State = x87,
        };
    }

    public static void WriteOutcome(Span<byte> destination, InstructionOutcome outcome)
    {
        destination[..OutcomeRecordSize].Clear();
        destination[0] = OutcomeTag;
        destination[1] = (byte)outcome.Fault.Kind;
        int at = 4;
        BinaryPrimitives.WriteInt32LittleEndian(destination[at..], outcome.Fault.Vector); at += 4;
        BinaryPrimitives.WriteInt32LittleEndian(destination[at..], outcome.Fault.Signal); at += 4;
        BinaryPrimitives.WriteInt32LittleEndian(destination[at..], outcome.Fault.SignalCode); at += 4;
        BinaryPrimitives.WriteUInt64LittleEndian(destination[at..], outcome.Fault.ErrorCode); at += 8;
        BinaryPrimitives.WriteUInt64LittleEndian(destination[at..], outcome.Fault.Address); at += 8;
        foreach (ulong value in outcome.Gprs) { BinaryPrimitives.WriteUInt64LittleEndian(destination[at..], value); at += 8; }
        BinaryPrimitives.WriteUInt64LittleEndian(destination[at..], outcome.Rflags); at += 8;
        BinaryPrimitives.WriteUInt32LittleEndian(destination[at..], outcome.Mxcsr); at += 8;
        outcome.Xmm.CopyTo(destination[at..]); at += InstructionCase.XmmBytes;
        outcome.Memory.CopyTo(destination[at..]); at += InstructionCase.WindowSize;
        outcome.X87State.CopyTo(destination[at..]);
    }

    /// <summary>Decodes an outcome record (tag included) into a reusable outcome.</summary>
    public static void ReadOutcome(ReadOnlySpan<byte> source, InstructionOutcome outcome)
    {
        if (source[0] != OutcomeTag) throw new InvalidDataException($"Expected an outcome record, got tag 0x{source[0]:X2}.");
        var kind = (FaultKind)source[1];
        int at = 4;
        int vector = BinaryPrimitives.ReadInt32LittleEndian(source[at..]); at += 4;
        int signal = BinaryPrimitives.ReadInt32LittleEndian(source[at..]); at += 4;
        int code = BinaryPrimitives.ReadInt32LittleEndian(source[at..]); at += 4;
        ulong error = BinaryPrimitives.ReadUInt64LittleEndian(source[at..]); at += 8;
        ulong address = BinaryPrimitives.ReadUInt64LittleEndian(source[at..]); at += 8;
        outcome.Fault = kind == FaultKind.None ? InstructionFault.None : new InstructionFault(kind, vector, signal, code, error, address);
        for (int i = 0; i < InstructionCase.GprCount; i++) { outcome.Gprs[i] = BinaryPrimitives.ReadUInt64LittleEndian(source[at..]); at += 8; }
        outcome.Rflags = BinaryPrimitives.ReadUInt64LittleEndian(source[at..]); at += 8;
        outcome.Mxcsr = BinaryPrimitives.ReadUInt32LittleEndian(source[at..]); at += 8;
        source.Slice(at, InstructionCase.XmmBytes).CopyTo(outcome.Xmm); at += InstructionCase.XmmBytes;
        source.Slice(at, InstructionCase.WindowSize).CopyTo(outcome.Memory); at += InstructionCase.WindowSize;
        source.Slice(at, InstructionCase.X87StateBytes).CopyTo(outcome.X87State);
    }

    public static byte[] EncodeError(string message)
    {
        byte[] text = Encoding.UTF8.GetBytes(message.Length > 4000 ? message[..4000] : message);
        var record = new byte[3 + text.Length];
        record[0] = ErrorTag;
        BinaryPrimitives.WriteUInt16LittleEndian(record.AsSpan(1), (ushort)text.Length);
        text.CopyTo(record, 3);
        return record;
    }
}
