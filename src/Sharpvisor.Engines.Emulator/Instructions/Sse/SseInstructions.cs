namespace Sharpvisor.Engines.Emulator.Instructions.Sse;

/// <summary>Registers every SSE/SSE2 group (the baseline's 128-bit vector instructions).</summary>
public static class SseInstructions
{
    public static void Register(InstructionTable table)
    {
        SseMoves.Register(table);
        SseIntegerArithmetic.Register(table);
        SseShuffles.Register(table);
        SseFloatArithmetic.Register(table);
        SseFloatCompares.Register(table);
        SseConversions.Register(table);
    }
}
