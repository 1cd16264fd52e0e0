namespace Sharpvisor.Engines.Emulator.Execution;

/// <summary>Why <see cref="Interpreter.Run"/> returned.</summary>
public enum StopReason
{
    /// <summary>The instruction budget ran out.</summary>
    BudgetExhausted,
    /// <summary>A guest exception was raised; with no IDT delivery yet (system mode), the caller handles it.</summary>
    Fault,
}
