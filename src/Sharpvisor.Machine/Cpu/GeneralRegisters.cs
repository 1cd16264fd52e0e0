namespace Sharpvisor.Machine.Cpu;

/// <summary>The sixteen general-purpose registers, RIP and RFLAGS.</summary>
public sealed record GeneralRegisters
{
    public ulong Rax { get; init; }
    public ulong Rbx { get; init; }
    public ulong Rcx { get; init; }
    public ulong Rdx { get; init; }
    public ulong Rsi { get; init; }
    public ulong Rdi { get; init; }
    public ulong Rsp { get; init; }
    public ulong Rbp { get; init; }
    public ulong R8 { get; init; }
    public ulong R9 { get; init; }
    public ulong R10 { get; init; }
    public ulong R11 { get; init; }
    public ulong R12 { get; init; }
    public ulong R13 { get; init; }
    public ulong R14 { get; init; }
    public ulong R15 { get; init; }
    public ulong Rip { get; init; }
    /// <summary>Bit 1 is always set on x86.</summary>
    public ulong Rflags { get; init; } = 0x2;
}
