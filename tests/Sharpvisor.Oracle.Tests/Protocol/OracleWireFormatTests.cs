using Sharpvisor.Oracle.Protocol;

namespace Sharpvisor.Oracle.Tests.Protocol;

public sealed class OracleWireFormatTests
{
    [Fact]
    public void A_case_survives_encoding()
    {
        var random = new Random(7);
        var original = InstructionCase.Create([0x48, 0x0F, 0xC8]) with { Rflags = 0x8C3, Mxcsr = 0x3F80, PointerRegisters = 0x8010 };
        for (int i = 0; i < 16; i++) original.Gprs[i] = (ulong)random.NextInt64();
        random.NextBytes(original.Xmm);
        random.NextBytes(original.Memory);
        var record = new byte[OracleWireFormat.CaseRecordSize];
        OracleWireFormat.WriteCase(record, original);
        InstructionCase copy = OracleWireFormat.ReadCase(record);
        Assert.Equal(original.Code, copy.Code);
        Assert.Equal(original.Gprs, copy.Gprs);
        Assert.Equal(original.Xmm, copy.Xmm);
        Assert.Equal(original.Memory, copy.Memory);
        Assert.Equal((original.Rflags, original.Mxcsr, original.PointerRegisters), (copy.Rflags, copy.Mxcsr, copy.PointerRegisters));
    }

    [Fact]
    public void An_outcome_survives_encoding()
    {
        var original = InstructionOutcome.CreateBuffers();
        original.Gprs[3] = 0xABCDEF;
        original.Xmm[200] = 9;
        original.Memory[8191] = 0x55;
        original.Rflags = 0x847;
        original.Mxcsr = 0x1FA0;
        original.Fault = new InstructionFault(FaultKind.PageFault, 14, 11, 1, 6, 0x7000_0000_2000);
        var record = new byte[OracleWireFormat.OutcomeRecordSize];
        OracleWireFormat.WriteOutcome(record, original);
        var copy = InstructionOutcome.CreateBuffers();
        OracleWireFormat.ReadOutcome(record, copy);
        Assert.Equal("", original.DescribeDifferences(copy));
        Assert.Equal(original.Fault, copy.Fault);
    }

    [Fact]
    public void Headers_are_checked()
    {
        var header = new byte[OracleWireFormat.HeaderSize];
        OracleWireFormat.WriteHeader(header, OracleWireFormat.ResponseMagic, OracleWireFormat.FlagFaultRecovery);
        Assert.Equal(OracleWireFormat.FlagFaultRecovery, OracleWireFormat.ReadHeader(header, OracleWireFormat.ResponseMagic));
        Assert.Throws<InvalidDataException>(() => OracleWireFormat.ReadHeader(header, OracleWireFormat.RequestMagic));
        header[4] = 99;
        Assert.Throws<InvalidDataException>(() => OracleWireFormat.ReadHeader(header, OracleWireFormat.ResponseMagic));
    }
}
