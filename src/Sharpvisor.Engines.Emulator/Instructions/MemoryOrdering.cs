using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;

namespace Sharpvisor.Engines.Emulator.Instructions;

/// <summary>
/// LFENCE, MFENCE, SFENCE. One emulated CPU needs nothing, but several vCPUs on host threads will: each fence is a
/// full host barrier, at least as strong as the one the guest asked for.
/// </summary>
public static class MemoryOrdering
{
    public static unsafe void Register(InstructionTable table)
    {
        table.SetAllGeneralForms(Mnemonic.Lfence, &Fence);
        table.SetAllGeneralForms(Mnemonic.Mfence, &Fence);
        table.SetAllGeneralForms(Mnemonic.Sfence, &Fence);
    }

    private static void Fence(CpuCore cpu, ref Instruction i) => Interlocked.MemoryBarrier();
}
