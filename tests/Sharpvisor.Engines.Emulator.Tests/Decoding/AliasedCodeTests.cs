using Sharpvisor.Engines.Emulator.Decoding;
using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Engines.Emulator.Instructions;
using Sharpvisor.Engines.Emulator.Tests.Memory;
using static Sharpvisor.Engines.Emulator.Tests.Memory.PageTableBuilder;

namespace Sharpvisor.Engines.Emulator.Tests.Decoding;

/// <summary>
/// One physical code page mapped at two linear addresses, as Linux maps its vDSO at a different address in every
/// process: a block decoded at one address must not run at the other with the first one's IPs (which RIP-relative
/// operands and branch targets were worked out from). That happened: a process read the vvar page of the process
/// that ran the vDSO before it, took a #PF at an address it had no mapping for, and died with SIGSEGV.
/// </summary>
public class AliasedCodeTests
{
    private const ulong CodeFrame = 0x20_0000, FirstData = 0x30_0000, SecondData = 0x31_0000;
    private const ulong FirstAlias = 0x40_0000, SecondAlias = 0x80_0000;

    private static PagingFixture MapTwice()
    {
        var f = new PagingFixture();
        // Like the vDSO and its vvar page: the code, then data it reads RIP-relative, one page further on.
        f.Tables.Map(FirstAlias, CodeFrame, P);
        f.Tables.Map(FirstAlias + 0x1000, FirstData, P);
        f.Tables.Map(SecondAlias, CodeFrame, P);
        f.Tables.Map(SecondAlias + 0x1000, SecondData, P);
        // 0x000: mov eax, [rip + 0xFFA]   (the page after the code)
        // 0x006: nop
        f.Ram.Write(CodeFrame, [0x8B, 0x05, 0xFA, 0x0F, 0x00, 0x00, 0x90]);
        f.Ram.Write(FirstData, [0x11, 0x11, 0x11, 0x11]);
        f.Ram.Write(SecondData, [0x22, 0x22, 0x22, 0x22]);
        return f;
    }

    [Fact]
    public void TheSamePhysicalCodeAtAnotherLinearAddressRunsWithItsOwnAddresses()
    {
        using var f = MapTwice();
        var interpreter = new Interpreter(f.Cpu, new BlockCache(f.Memory, InstructionTable.Default));

        f.Cpu.Rip = FirstAlias;
        Assert.Equal(StopReason.BudgetExhausted, interpreter.Run(1));
        Assert.Equal(0x1111_1111UL, f.Cpu.Gpr[CpuCore.Rax]);
        Assert.Equal(FirstAlias + 6, f.Cpu.Rip);

        f.Cpu.Rip = SecondAlias;
        Assert.Equal(StopReason.BudgetExhausted, interpreter.Run(1));
        Assert.Equal(0x2222_2222UL, f.Cpu.Gpr[CpuCore.Rax]);
        Assert.Equal(SecondAlias + 6, f.Cpu.Rip);
    }

    [Fact]
    public void AlternatingBetweenTheAliasesKeepsEachCorrectAndSharesNoBlock()
    {
        using var f = MapTwice();
        var blocks = new BlockCache(f.Memory, InstructionTable.Default);
        var interpreter = new Interpreter(f.Cpu, blocks);
        for (int round = 0; round < 4; round++)
        {
            foreach (var (alias, value) in new[] { (FirstAlias, 0x1111_1111UL), (SecondAlias, 0x2222_2222UL) })
            {
                f.Cpu.Rip = alias;
                Assert.Equal(StopReason.BudgetExhausted, interpreter.Run(2));
                Assert.Equal(value, f.Cpu.Gpr[CpuCore.Rax]);
                Assert.Equal(alias + 7, f.Cpu.Rip);
            }
        }
        // Each switch of alias decodes afresh (the cache keeps one block per physical start).
        Assert.Equal(8, blocks.BlocksDecoded);
    }
}
