namespace Sharpvisor.Coverage.Census;

/// <summary>What kind of work an instruction form asks of an emulator. <see cref="FormClassifier"/> assigns it.</summary>
public enum FormCategory
{
    /// <summary>Integer, control flow, string and bit instructions on general-purpose registers and memory.</summary>
    GeneralPurpose,

    /// <summary>Privileged instructions and those that expose or manage machine state (CPUID, SYSCALL, RDTSC, XSAVE...).</summary>
    System,

    /// <summary>x87 floating point (ST registers).</summary>
    X87,

    /// <summary>Forms that touch MM registers (MMX, the MMX forms of SSE, 3DNow!).</summary>
    Mmx,

    /// <summary>Legacy-encoded XMM forms: SSE through SSE4.2, AES-NI, PCLMULQDQ, SHA.</summary>
    Sse,

    /// <summary>VEX/EVEX/XOP-encoded vector forms: AVX, AVX2, FMA, AVX-512.</summary>
    Avx,

    /// <summary>Everything else (TSX, MPX, AMX, CET, vendor extensions...).</summary>
    Other,
}
