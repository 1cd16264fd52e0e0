namespace Sharpvisor.Engines.Emulator.Execution;

/// <summary>Why <see cref="Interpreter.Run"/> returned.</summary>
public enum StopReason
{
    /// <summary>The instruction budget ran out.</summary>
    BudgetExhausted,
    /// <summary>A guest exception was raised and <see cref="CpuCore.DeliverExceptions"/> is off: the caller handles it (<see cref="Interpreter.LastFault"/>).</summary>
    Fault,
    /// <summary>HLT: RIP is after the HLT; the next <see cref="Interpreter.Run"/> delivers a pending interrupt first, or returns Halted again at once.</summary>
    Halted,
    /// <summary>A fault while delivering a double fault: the processor shuts down (<see cref="Interpreter.TripleFaultDescription"/> says why); the machine resets.</summary>
    TripleFault,
}
