namespace Sharpvisor.Machine.Cpu;

/// <summary>GDTR or IDTR.</summary>
public sealed record DescriptorTable(ulong Base, ushort Limit);
