namespace Sharpvisor.Machine.Cpu;

/// <summary>One MSR and its value.</summary>
public readonly record struct ModelSpecificRegister(uint Index, ulong Value);
