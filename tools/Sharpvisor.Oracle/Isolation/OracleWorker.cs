using Sharpvisor.Machine.Native;
using Sharpvisor.Oracle.Native;
using Sharpvisor.Oracle.Protocol;

namespace Sharpvisor.Oracle.Isolation;

/// <summary>
/// The child side of <see cref="IsolatedNativeRunner"/> (<c>Sharpvisor.Oracle worker [--no-recover]</c>): reads
/// cases from stdin, runs each with a <see cref="NativeInstructionRunner"/>, writes one outcome per case to stdout
/// and flushes, per <see cref="OracleWireFormat"/>. With recovery (the default) the runner's native SA_SIGINFO
/// handler, on an alternate signal stack, records a fault taken by the instruction (trap number, error code,
/// address, registers) and resumes at the host-restoring tail, so the worker survives. With
/// <c>--no-recover</c>, or for a fault anywhere else, the fault signals have their default action and the
/// process dies by the signal; the parent then reports it from the exit status.
/// </summary>
public static class OracleWorker
{
    private static readonly int[] FaultSignals =
        [InstructionFault.Sigill, InstructionFault.Sigtrap, InstructionFault.Sigbus, InstructionFault.Sigfpe, InstructionFault.Sigsegv];

    public static int Run(Stream input, Stream output, bool recoverFaults)
    {
        DisableCoreDumps();
        using var runner = new NativeInstructionRunner();
        if (recoverFaults) InstallAlternateStack();
        ArmSignals(runner, recoverFaults);

        Span<byte> header = stackalloc byte[OracleWireFormat.HeaderSize];
        if (!ReadFully(input, header)) return 0;
        OracleWireFormat.ReadHeader(header, OracleWireFormat.RequestMagic);
        OracleWireFormat.WriteHeader(header, OracleWireFormat.ResponseMagic, recoverFaults ? OracleWireFormat.FlagFaultRecovery : (ushort)0);
        output.Write(header);
        output.Flush();

        var caseRecord = new byte[OracleWireFormat.CaseRecordSize];
        var outcomeRecord = new byte[OracleWireFormat.OutcomeRecordSize];
        var outcome = InstructionOutcome.CreateBuffers();
        while (true)
        {
            if (!ReadFully(input, caseRecord.AsSpan(0, 1)) || caseRecord[0] == OracleWireFormat.EndTag) return 0;
            InstructionCase instructionCase;
            try
            {
                if (!ReadFully(input, caseRecord.AsSpan(1))) throw new InvalidDataException("Truncated case record.");
                instructionCase = OracleWireFormat.ReadCase(caseRecord);
                instructionCase.Validate();
            }
            catch (Exception error) when (error is InvalidDataException or ArgumentException)
            {
                output.Write(OracleWireFormat.EncodeError(error.Message));
                output.Flush();
                return 2;
            }
            runner.Run(instructionCase, outcome);
            // SA_RESETHAND disarmed the handler that caught the fault.
            if (runner.LastRunFaulted) ArmSignals(runner, recoverFaults);
            OracleWireFormat.WriteOutcome(outcomeRecord, outcome);
            output.Write(outcomeRecord);
            output.Flush();
        }
    }

    private static bool ReadFully(Stream input, Span<byte> buffer)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int read = input.Read(buffer[total..]);
            if (read == 0)
            {
                if (total == 0) return false;
                throw new InvalidDataException("Truncated record.");
            }
            total += read;
        }
        return true;
    }

    private static unsafe void DisableCoreDumps()
    {
        ulong* limits = stackalloc ulong[2];
        limits[0] = 0; limits[1] = 0;
        Libc.setrlimit(Libc.RlimitCore, limits);
    }

    private static unsafe void InstallAlternateStack()
    {
        const int size = 256 * 1024;
        nint stack = Libc.mmap(0, size, Libc.ProtRead | Libc.ProtWrite, Libc.MapPrivate | Libc.MapAnonymous, -1, 0);
        if (stack == Libc.MapFailed) throw NativeFailure.Of("mmap(signal stack)");
        var altStack = new Libc.StackT { Pointer = stack, Size = size };
        if (Libc.sigaltstack(&altStack, null) != 0) throw NativeFailure.Of("sigaltstack");
    }

    /// <summary>
    /// Installs the runner's handler (SA_SIGINFO | SA_ONSTACK | SA_RESETHAND, all signals blocked inside) or the
    /// default action. The runtime's own handlers are replaced either way: they would need a usable stack, and
    /// the instruction's RSP is arbitrary.
    /// </summary>
    private static unsafe void ArmSignals(NativeInstructionRunner runner, bool recoverFaults)
    {
        var action = new Libc.SigAction();
        if (recoverFaults)
        {
            action.Handler = runner.HandlerAddress;
            action.Flags = Libc.SaSiginfo | Libc.SaOnStack | Libc.SaResetHand;
            for (int i = 0; i < 16; i++) action.Mask[i] = ~0UL;
        }
        foreach (int signal in FaultSignals)
            if (Libc.sigaction(signal, &action, null) != 0) throw NativeFailure.Of($"sigaction({signal})");
    }
}
