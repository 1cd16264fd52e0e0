using System.Diagnostics;
using Sharpvisor.Oracle.Protocol;

namespace Sharpvisor.Oracle.Isolation;

/// <summary>
/// Runs cases natively in a child worker process so that a faulting instruction cannot take down the caller.
/// <para>Protocol: the parent starts <c>dotnet exec Sharpvisor.Oracle.dll worker [--no-recover]</c>, exchanges
/// <see cref="OracleWireFormat"/> headers, then streams case records to the worker's stdin from a writer thread
/// while reading outcome records from its stdout (the worker flushes each outcome before it reads the next case).
/// Outcome K always belongs to case K. If the stream ends after K outcomes, the worker died while running case K:
/// the parent waits for it, takes the terminating signal from the exit status (.NET reports a signal death as
/// 128 + signal), records case K as faulted with <see cref="InstructionFault.KindFromSignal"/> and the case's
/// input state (a fault changes no architectural state), starts a new worker and resumes at case K + 1.</para>
/// <para>With fault recovery (the default) the worker's native handler turns most faults into ordinary outcomes
/// carrying the exact vector, error code and address, and the worker survives; death and restart remain the path
/// for anything the handler does not own.</para>
/// A hung instruction (an endless loop) is not detected. Not thread-safe.
/// </summary>
public sealed class IsolatedNativeRunner : IDisposable
{
    private readonly bool _recoverFaults;
    private readonly byte[] _caseRecord = new byte[OracleWireFormat.CaseRecordSize];
    private readonly byte[] _outcomeRecord = new byte[OracleWireFormat.OutcomeRecordSize];
    private Process? _worker;
    private Stream? _toWorker;
    private Stream? _fromWorker;

    public IsolatedNativeRunner(bool recoverFaultsInWorker = true) => _recoverFaults = recoverFaultsInWorker;

    /// <summary>How many worker processes were started (1 + the number of workers lost to a fault).</summary>
    public int WorkerStarts { get; private set; }

    /// <summary>Whether the running worker reported that it recovers faults itself.</summary>
    public bool WorkerRecoversFaults { get; private set; }

    public InstructionOutcome Run(InstructionCase instructionCase) => RunBatch([instructionCase])[0];

    public InstructionOutcome[] RunBatch(IReadOnlyList<InstructionCase> cases)
    {
        var outcomes = new InstructionOutcome[cases.Count];
        for (int i = 0; i < outcomes.Length; i++) outcomes[i] = InstructionOutcome.CreateBuffers();
        RunBatch(cases, outcomes);
        return outcomes;
    }

    /// <summary>Runs <paramref name="cases"/> in order, filling the matching reusable <paramref name="outcomes"/>.</summary>
    public void RunBatch(IReadOnlyList<InstructionCase> cases, IReadOnlyList<InstructionOutcome> outcomes)
    {
        if (outcomes.Count != cases.Count) throw new ArgumentException("One outcome buffer per case is required.", nameof(outcomes));
        foreach (InstructionCase instructionCase in cases) instructionCase.Validate();

        int next = 0;
        while (next < cases.Count)
        {
            EnsureWorker();
            Stream toWorker = _toWorker!, fromWorker = _fromWorker!;
            int first = next;
            Task writer = Task.Factory.StartNew(() => WriteCases(toWorker, cases, first), TaskCreationOptions.LongRunning);

            while (next < cases.Count && ReadRecord(fromWorker, _outcomeRecord))
            {
                OracleWireFormat.ReadOutcome(_outcomeRecord, outcomes[next]);
                next++;
            }
            if (next < cases.Count)
            {
                RecordWorkerDeath(cases[next], outcomes[next]);
                next++;
            }
            writer.Wait();
        }
    }

    private static void WriteCases(Stream toWorker, IReadOnlyList<InstructionCase> cases, int first)
    {
        var record = new byte[OracleWireFormat.CaseRecordSize];
        try
        {
            for (int i = first; i < cases.Count; i++)
            {
                OracleWireFormat.WriteCase(record, cases[i]);
                toWorker.Write(record);
            }
            toWorker.Flush();
        }
        catch (IOException)
        {
            // The worker died; the reader notices the closed stream and accounts for it.
        }
    }

    /// <summary>Reads one outcome record; false at end of stream (the worker is gone).</summary>
    private bool ReadRecord(Stream fromWorker, byte[] record)
    {
        int read = fromWorker.ReadAtLeast(record.AsSpan(0, 1), 1, throwOnEndOfStream: false);
        if (read == 0) return false;
        if (record[0] == OracleWireFormat.ErrorTag)
        {
            Span<byte> length = stackalloc byte[2];
            fromWorker.ReadExactly(length);
            var text = new byte[length[0] | (length[1] << 8)];
            fromWorker.ReadExactly(text);
            StopWorker();
            throw new InvalidDataException($"Oracle worker rejected a case: {System.Text.Encoding.UTF8.GetString(text)}");
        }
        return fromWorker.ReadAtLeast(record.AsSpan(1), record.Length - 1, throwOnEndOfStream: false) == record.Length - 1;
    }

    private void RecordWorkerDeath(InstructionCase instructionCase, InstructionOutcome outcome)
    {
        Process worker = _worker!;
        worker.WaitForExit();
        int exitCode = worker.ExitCode;
        StopWorker();
        int signal = exitCode > 128 ? exitCode - 128 : 0;

        instructionCase.Gprs.CopyTo(outcome.Gprs, 0);
        outcome.Rflags = (instructionCase.Rflags & InstructionCase.InputFlagsMask) | InstructionCase.FlagsFixedBits;
        outcome.Mxcsr = instructionCase.Mxcsr;
        instructionCase.Xmm.CopyTo(outcome.Xmm, 0);
        instructionCase.Memory.CopyTo(outcome.Memory, 0);
        instructionCase.X87State.CopyTo(outcome.X87State, 0);
        outcome.Fault = new InstructionFault(signal == 0 ? FaultKind.WorkerLost : InstructionFault.KindFromSignal(signal),
            Vector: -1, Signal: signal, SignalCode: signal == 0 ? exitCode : 0, ErrorCode: 0, Address: 0);
    }

    private void EnsureWorker()
    {
        if (_worker is not null) return;
        string assembly = typeof(OracleWorker).Assembly.Location;
        var start = new ProcessStartInfo(FindDotnetHost())
        {
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        start.ArgumentList.Add("exec");
        start.ArgumentList.Add(assembly);
        start.ArgumentList.Add("worker");
        if (!_recoverFaults) start.ArgumentList.Add("--no-recover");
        // No crash dumps for the faults we provoke on purpose.
        start.Environment["DOTNET_DbgEnableMiniDump"] = "0";
        start.Environment["DOTNET_EnableCrashReport"] = "0";

        Process worker = Process.Start(start) ?? throw new InvalidOperationException("Could not start the oracle worker.");
        worker.ErrorDataReceived += (_, _) => { };
        worker.BeginErrorReadLine();
        _worker = worker;
        _toWorker = worker.StandardInput.BaseStream;
        _fromWorker = worker.StandardOutput.BaseStream;
        WorkerStarts++;

        Span<byte> header = stackalloc byte[OracleWireFormat.HeaderSize];
        OracleWireFormat.WriteHeader(header, OracleWireFormat.RequestMagic, 0);
        _toWorker.Write(header);
        _toWorker.Flush();
        _fromWorker.ReadExactly(header);
        ushort flags = OracleWireFormat.ReadHeader(header, OracleWireFormat.ResponseMagic);
        WorkerRecoversFaults = (flags & OracleWireFormat.FlagFaultRecovery) != 0;
    }

    private static string FindDotnetHost()
    {
        string? host = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH");
        if (!string.IsNullOrEmpty(host) && File.Exists(host)) return host;
        string? self = Environment.ProcessPath;
        if (self is not null && Path.GetFileName(self) == "dotnet") return self;
        foreach (string? root in new[] { Environment.GetEnvironmentVariable("DOTNET_ROOT"), "/usr/share/dotnet", "/usr/lib/dotnet", "/usr/local/share/dotnet" })
            if (root is not null && File.Exists(Path.Combine(root, "dotnet"))) return Path.Combine(root, "dotnet");
        return "dotnet";
    }

    private void StopWorker()
    {
        if (_worker is null) return;
        try
        {
            if (!_worker.HasExited)
            {
                try { _toWorker!.WriteByte(OracleWireFormat.EndTag); _toWorker.Flush(); } catch (IOException) { }
                if (!_worker.WaitForExit(2000)) _worker.Kill();
            }
        }
        finally
        {
            _worker.Dispose();
            _worker = null;
            _toWorker = null;
            _fromWorker = null;
        }
    }

    public void Dispose() => StopWorker();
}
