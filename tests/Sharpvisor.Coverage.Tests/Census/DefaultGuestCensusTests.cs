using Iced.Intel;
using Sharpvisor.Vmm.Images;
using Sharpvisor.Coverage.Census;
using Sharpvisor.Coverage.Elf;
using Sharpvisor.Coverage.Kernel;

namespace Sharpvisor.Coverage.Tests.Census;

/// <summary>The real default guest: Debian's cloud kernel and the busybox in its initramfs (built into the cache if missing).</summary>
public class DefaultGuestCensusTests
{
    [Fact]
    public async Task KernelExtractsToAnElfWhoseTextDecodesAndBusyboxIsInTheInitramfs()
    {
        GuestImage image = await DefaultGuestImage.EnsureAsync();

        byte[] bzImage = await File.ReadAllBytesAsync(image.KernelPath);
        Assert.True(BzImage.IsBzImage(bzImage));
        byte[] vmlinuxBytes = BzImage.ExtractVmlinux(bzImage);
        var vmlinux = ElfFile.Parse(vmlinuxBytes);
        Assert.Equal(ElfFile.MachineX86_64, vmlinux.Machine);
        var text = vmlinux.FindSection(".text");
        Assert.NotNull(text);
        Assert.True(text.IsExecutable);
        Assert.True(text.Size > 4 << 20, $".text is only {text.Size} bytes");
        Assert.Equal(0xFFFFFFFF81000000UL, text.Address); // the x86-64 kernel text base without KASLR

        var kernelCensus = new InstructionCensus("vmlinux .text");
        kernelCensus.Add(new CodeRegion(text.Name, text.Address, vmlinux.GetBytes(text)));
        Assert.True(kernelCensus.Instructions > 1_000_000, $"{kernelCensus.Instructions} instructions");
        Assert.True(kernelCensus.InvalidDecodes < kernelCensus.BytesScanned / 1000,
            $"{kernelCensus.InvalidDecodes} invalid decodes in {kernelCensus.BytesScanned} bytes");
        Assert.True(kernelCensus.CountOf(Code.Wrmsr) > 0, "a kernel writes MSRs");
        Assert.True(kernelCensus.CountOf(Code.Swapgs) > 0, "a 64-bit kernel swaps GS on entry");

        var entries = CpioNewcReader.ReadGzipped(await File.ReadAllBytesAsync(image.InitrdPath));
        var busybox = ElfFile.Parse(CensusInputs.FindBusybox(entries).Data);
        Assert.Equal(ElfFile.MachineX86_64, busybox.Machine);
        var busyboxCensus = InstructionCensus.OfElf("busybox", busybox);
        Assert.True(busyboxCensus.Instructions > 100_000, $"{busyboxCensus.Instructions} instructions");
        Assert.True(busyboxCensus.CountOf(Code.Syscall) > 0, "a static busybox makes system calls itself");
    }
}
