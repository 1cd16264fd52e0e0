using System.Text.Json;
using Iced.Intel;
using Sharpvisor.Coverage.Census;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.Coverage.Tests.Census;

public class CensusReportTests
{
    private static InstructionCensus Sample()
    {
        var census = new InstructionCensus("sample");
        census.Add(AssembledCode.Region(a =>
        {
            a.add(rax, rbx);
            a.add(rax, rbx);
            a.sub(rax, rbx);
            a.vpxor(ymm0, ymm1, ymm2);
            a.ret();
        }));
        return census;
    }

    /// <summary>An engine that implements ADD and SUB and has verified only ADD.</summary>
    private sealed class AddSubEngine : IImplementedForms
    {
        public bool HasEngine => true;
        public string Description => "test engine";
        public bool IsImplemented(Code code) => code is Code.Add_rm64_r64 or Code.Sub_rm64_r64;
        public bool IsVerified(Code code) => code == Code.Add_rm64_r64;
    }

    [Fact]
    public void WithoutAnEngineItSaysSoAndCountsNothingImplemented()
    {
        var census = Sample();
        var report = new CensusReport("baseline", CpuidFeatureSets.BaselineX86_64, NoEmulatorEngine.Instance);
        var output = new StringWriter();
        report.WriteText(output, [census], census);
        string[] lines = output.ToString().TrimEnd().Split('\n');

        Assert.Contains("implemented: 0 of 3 reachable forms, verified: 0 (no emulator engine in this build)", output.ToString());
        using var json = JsonDocument.Parse(lines[^1]);
        var totals = json.RootElement.GetProperty("totals");
        Assert.Equal(4, totals.GetProperty("distinctForms").GetInt32());
        Assert.Equal(3, totals.GetProperty("reachableForms").GetInt32());
        Assert.Equal(1, totals.GetProperty("excludedForms").GetInt32());
        Assert.Equal(1, totals.GetProperty("excludedByCategory").GetProperty("AVX").GetInt32());
        Assert.False(totals.GetProperty("emulatorEngine").GetBoolean());
        Assert.Equal(0, totals.GetProperty("implemented").GetInt32());
        Assert.Equal(0, totals.GetProperty("verified").GetInt32());
    }

    [Fact]
    public void AnEngineFillsTheImplementedAndVerifiedColumns()
    {
        var census = Sample();
        var report = new CensusReport("all", CpuidFeatureSets.All, new AddSubEngine());
        using var json = JsonDocument.Parse(report.ToJson([census], census, includeForms: true));
        var totals = json.RootElement.GetProperty("totals");

        Assert.Equal(4, totals.GetProperty("reachableForms").GetInt32());
        Assert.Equal(2, totals.GetProperty("implemented").GetInt32());
        Assert.Equal(1, totals.GetProperty("verified").GetInt32());
        var add = totals.GetProperty("forms").EnumerateArray().First(f => f.GetProperty("code").GetString() == "Add_rm64_r64");
        Assert.Equal(2, add.GetProperty("count").GetInt64());
        Assert.True(add.GetProperty("verified").GetBoolean());
        Assert.Equal("general-purpose", add.GetProperty("category").GetString());
    }
}
