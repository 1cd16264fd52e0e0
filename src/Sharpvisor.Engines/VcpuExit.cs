namespace Sharpvisor.Engines;

/// <summary>The outcome of <see cref="IVcpu.Run"/>; <see cref="Report"/> explains failures (registers, RIP, bytes).</summary>
public readonly record struct VcpuExit(VcpuExitReason Reason, string? Report = null)
{
    public static readonly VcpuExit Kicked = new(VcpuExitReason.Kicked);
}
