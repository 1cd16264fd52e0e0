using Sharpvisor.Machine.Cpu;

namespace Sharpvisor.Machine.Boot;

/// <summary>What a kernel loader put where, and the state vCPU 0 starts in.</summary>
public sealed record LoadedKernel
{
    public required KernelImageFormat Format { get; init; }
    /// <summary>The initial state of the boot vCPU (vCPU 0).</summary>
    public required CpuState BootCpu { get; init; }
    public required ulong EntryPoint { get; init; }
    /// <summary>The guest-physical range the kernel occupies, including room it needs to decompress or clear.</summary>
    public required ulong KernelStart { get; init; }
    public required ulong KernelEnd { get; init; }
    public required ulong CommandLineAddress { get; init; }
    /// <summary>Where the initrd was placed, or null without one.</summary>
    public ulong? InitrdAddress { get; init; }
    public ulong InitrdSize { get; init; }
    /// <summary>The structure the kernel receives: boot_params for a bzImage, hvm_start_info for PVH.</summary>
    public required ulong BootInfoAddress { get; init; }
    public required E820Map MemoryMap { get; init; }
}
