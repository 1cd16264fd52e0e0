using Sharpvisor.Machine.Boot;

namespace Sharpvisor.Machine.Tests.Boot;

/// <summary>The layout constants other components use, against the offsets boot.rst and zero-page.rst document.</summary>
public class BootParamsLayoutTests
{
    [Theory]
    [InlineData(BootParamsLayout.AcpiRsdpAddr, 0x070)]
    [InlineData(BootParamsLayout.ExtRamdiskImage, 0x0C0)]
    [InlineData(BootParamsLayout.ExtRamdiskSize, 0x0C4)]
    [InlineData(BootParamsLayout.ExtCmdLinePtr, 0x0C8)]
    [InlineData(BootParamsLayout.E820Entries, 0x1E8)]
    [InlineData(BootParamsLayout.Sentinel, 0x1EF)]
    [InlineData(BootParamsLayout.SetupHeader, 0x1F1)]
    [InlineData(BootParamsLayout.E820Table, 0x2D0)]
    [InlineData(BootParamsLayout.BootFlag, 0x1FE)]
    [InlineData(BootParamsLayout.HeaderMagic, 0x202)]
    [InlineData(BootParamsLayout.Version, 0x206)]
    [InlineData(BootParamsLayout.TypeOfLoader, 0x210)]
    [InlineData(BootParamsLayout.LoadFlags, 0x211)]
    [InlineData(BootParamsLayout.RamdiskImage, 0x218)]
    [InlineData(BootParamsLayout.RamdiskSize, 0x21C)]
    [InlineData(BootParamsLayout.CmdLinePtr, 0x228)]
    [InlineData(BootParamsLayout.InitrdAddrMax, 0x22C)]
    [InlineData(BootParamsLayout.KernelAlignment, 0x230)]
    [InlineData(BootParamsLayout.RelocatableKernel, 0x234)]
    [InlineData(BootParamsLayout.XLoadFlags, 0x236)]
    [InlineData(BootParamsLayout.CmdlineSize, 0x238)]
    [InlineData(BootParamsLayout.PrefAddress, 0x258)]
    [InlineData(BootParamsLayout.InitSize, 0x260)]
    public void OffsetsMatchTheKernelDocumentation(int constant, int documented) => Assert.Equal(documented, constant);

    [Fact]
    public void E820TableHoldsOneHundredTwentyEightEntriesBeforeEddBuf()
    {
        // e820_table[128] of 20-byte entries ends at 0xCD0, before eddbuf at 0xD00.
        Assert.Equal(0xCD0, BootParamsLayout.E820Table + E820Map.MaxBootParamsEntries * E820Entry.BootParamsEntrySize);
    }
}
