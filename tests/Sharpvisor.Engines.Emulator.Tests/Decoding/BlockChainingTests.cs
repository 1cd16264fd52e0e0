using Sharpvisor.Engines.Emulator.Decoding;
using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Engines.Emulator.Instructions;
using Sharpvisor.Engines.Emulator.Tests.Memory;
using static Sharpvisor.Engines.Emulator.Tests.Memory.PageTableBuilder;

namespace Sharpvisor.Engines.Emulator.Tests.Decoding;

/// <summary>
/// A block remembers the block that ran after it; the link must not outlive a change of translation (a remapped page
/// made known by INVLPG) or of privilege (a user-mode fetch from a supervisor page faults).
/// </summary>
public class BlockChainingTests
{
    private const ulong Jumper = 0x40_0000, Target = 0x40_1000;
    private const ulong JumperFrame = 0x20_0000, FirstFrame = 0x21_0000, SecondFrame = 0x22_0000;

    /// <summary>At Jumper: jmp Target. At FirstFrame: mov eax, 0x1111; at SecondFrame: mov eax, 0x2222.</summary>
    private static PagingFixture Build(ulong targetFlags)
    {
        var f = new PagingFixture();
        f.Tables.Map(Jumper, JumperFrame, P | U);
        f.Tables.Map(Target, FirstFrame, targetFlags);
        f.Ram.Write(JumperFrame, [0xE9, .. BitConverter.GetBytes((int)(Target - (Jumper + 5)))]);
        f.Ram.Write(FirstFrame, [0xB8, 0x11, 0x11, 0x00, 0x00, 0x90]);
        f.Ram.Write(SecondFrame, [0xB8, 0x22, 0x22, 0x00, 0x00, 0x90]);
        return f;
    }

    /// <summary>The jump and the first instruction at the target.</summary>
    private static StopReason JumpAndMove(PagingFixture f, Interpreter interpreter)
    {
        f.Cpu.Rip = Jumper;
        f.Cpu.Gpr[CpuCore.Rax] = 0;
        return interpreter.Run(2);
    }

    [Fact]
    public void A_page_remapped_and_invalidated_runs_its_new_code()
    {
        using var f = Build(P | U);
        var interpreter = new Interpreter(f.Cpu, new BlockCache(f.Memory, InstructionTable.Default));
        for (int i = 0; i < 2; i++) // the second time through the link
        {
            Assert.Equal(StopReason.BudgetExhausted, JumpAndMove(f, interpreter));
            Assert.Equal(0x1111UL, f.Cpu.Gpr[CpuCore.Rax]);
        }
        f.Tables.Map(Target, SecondFrame, P | U);
        f.Paging.InvalidatePage(Target); // what INVLPG does
        Assert.Equal(StopReason.BudgetExhausted, JumpAndMove(f, interpreter));
        Assert.Equal(0x2222UL, f.Cpu.Gpr[CpuCore.Rax]);
    }

    [Fact]
    public void A_link_made_in_supervisor_mode_does_not_let_user_mode_fetch_a_supervisor_page()
    {
        using var f = Build(P); // the target page is the supervisor's
        var interpreter = new Interpreter(f.Cpu, new BlockCache(f.Memory, InstructionTable.Default));
        f.Cpu.Cpl = 0;
        Assert.Equal(StopReason.BudgetExhausted, JumpAndMove(f, interpreter));
        Assert.Equal(0x1111UL, f.Cpu.Gpr[CpuCore.Rax]);
        f.Cpu.Cpl = 3;
        Assert.Equal(StopReason.Fault, JumpAndMove(f, interpreter));
        Assert.Equal(GuestFault.PageFault, interpreter.LastFault!.Vector);
        Assert.Equal(Target, interpreter.LastFault.FaultAddress);
        Assert.Equal(0UL, f.Cpu.Gpr[CpuCore.Rax]);
    }
}
