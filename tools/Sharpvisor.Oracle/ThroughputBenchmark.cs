using System.Diagnostics;
using Iced.Intel;
using Sharpvisor.Oracle.Generation;
using Sharpvisor.Oracle.Isolation;
using Sharpvisor.Oracle.Native;

namespace Sharpvisor.Oracle;

/// <summary>Measures cases per second: in-process (same bytes and alternating bytes) and through the isolated worker.</summary>
public static class ThroughputBenchmark
{
    public sealed record Result(string Name, int Cases, double Seconds)
    {
        public double CasesPerSecond => Cases / Seconds;
        public override string ToString() => $"{Name}: {Cases} cases in {Seconds:F3} s = {CasesPerSecond:N0} cases/s";
    }

    public static IReadOnlyList<Result> Measure(int inProcessCases, int isolatedCases)
    {
        var generator = new CaseGenerator(1234);
        InstructionCase[] pool =
        [
            generator.Generate(Code.Add_rm64_r64, OperandForm.Register),
            generator.Generate(Code.Adc_r32_rm32, OperandForm.Memory),
            generator.Generate(Code.Imul_r64_rm64, OperandForm.Register),
            generator.Generate(Code.Pxor_xmm_xmmm128, OperandForm.Register),
            generator.Generate(Code.Shl_rm64_CL, OperandForm.Register),
            generator.Generate(Code.Push_r64, OperandForm.Register),
            generator.Generate(Code.Bswap_r64, OperandForm.Register),
            generator.Generate(Code.Sub_rm16_imm16, OperandForm.Memory),
        ];
        var results = new List<Result>();
        using (var runner = new NativeInstructionRunner())
        {
            var outcome = InstructionOutcome.CreateBuffers();
            for (int i = 0; i < 10_000; i++) runner.Run(pool[i % pool.Length], outcome);

            var clock = Stopwatch.StartNew();
            for (int i = 0; i < inProcessCases; i++) runner.Run(pool[0], outcome);
            results.Add(new Result("in-process, one instruction", inProcessCases, clock.Elapsed.TotalSeconds));

            clock.Restart();
            for (int i = 0; i < inProcessCases; i++) runner.Run(pool[i % pool.Length], outcome);
            results.Add(new Result("in-process, 8 instructions rotating", inProcessCases, clock.Elapsed.TotalSeconds));
        }
        using (var isolated = new IsolatedNativeRunner())
        {
            var cases = new InstructionCase[isolatedCases];
            for (int i = 0; i < cases.Length; i++) cases[i] = pool[i % pool.Length];
            var outcomes = new InstructionOutcome[isolatedCases];
            for (int i = 0; i < outcomes.Length; i++) outcomes[i] = InstructionOutcome.CreateBuffers();
            isolated.RunBatch(cases.AsSpan(0, Math.Min(1000, cases.Length)).ToArray(), outcomes.AsSpan(0, Math.Min(1000, cases.Length)).ToArray());
            var clock = Stopwatch.StartNew();
            isolated.RunBatch(cases, outcomes);
            results.Add(new Result("isolated worker, 8 instructions rotating", isolatedCases, clock.Elapsed.TotalSeconds));
        }
        return results;
    }

    public static int Run(int cases, TextWriter output)
    {
        foreach (Result result in Measure(cases, Math.Max(1, cases / 10))) output.WriteLine(result);
        return 0;
    }
}
