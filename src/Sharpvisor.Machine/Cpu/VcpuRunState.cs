namespace Sharpvisor.Machine.Cpu;

/// <summary>Whether a vCPU runs, or waits: halted, or (an application processor) for INIT and SIPI.</summary>
public enum VcpuRunState
{
    Runnable = 0,
    WaitingForSipi = 1,
    InitReceived = 2,
    Halted = 3,
    SipiReceived = 4,
}
