namespace Sharpvisor.Api.Firecracker.Model;

/// <summary>PATCH /machine-config: only the fields given change.</summary>
public sealed record MachineConfigurationUpdate
{
    public int? VcpuCount { get; init; }
    public long? MemSizeMib { get; init; }
    public bool? Smt { get; init; }
    public bool? TrackDirtyPages { get; init; }
    public string? CpuTemplate { get; init; }
    public string? HugePages { get; init; }

    public MachineConfiguration ApplyTo(MachineConfiguration current) => current with
    {
        VcpuCount = VcpuCount ?? current.VcpuCount,
        MemSizeMib = MemSizeMib ?? current.MemSizeMib,
        Smt = Smt ?? current.Smt,
        TrackDirtyPages = TrackDirtyPages ?? current.TrackDirtyPages,
        CpuTemplate = CpuTemplate ?? current.CpuTemplate,
        HugePages = HugePages ?? current.HugePages,
    };
}
