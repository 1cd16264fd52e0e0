namespace Sharpvisor.Machine.Cpu;

/// <summary>One CPUID leaf (and subleaf, where <see cref="IndexSignificant"/>) and the registers it returns.</summary>
public readonly record struct CpuidEntry(uint Function, uint Index, bool IndexSignificant, uint Eax, uint Ebx, uint Ecx, uint Edx);
