using Sharpvisor.Engines.Emulator.Execution;

namespace Sharpvisor.Engines.Emulator.Instructions.SystemMode;

/// <summary>The privilege checks system instructions share.</summary>
public static class Privilege
{
    /// <summary>Privileged instructions raise #GP(0) at CPL &gt; 0 (and in virtual-8086 mode, where CPL is 3).</summary>
    public static void RequireKernel(CpuCore cpu)
    {
        if (cpu.Cpl != 0) throw new GuestFault(GuestFault.GeneralProtection, 0);
    }

    /// <summary>Instructions that exist only in protected mode (LLDT, LTR, LAR...) raise #UD in real mode.</summary>
    public static void RequireProtectedMode(CpuCore cpu)
    {
        if (!cpu.ProtectedMode || (cpu.ControlFlags & CpuCore.Virtual8086Flag) != 0) throw new GuestFault(GuestFault.InvalidOpcode);
    }

    /// <summary>CLI, STI and I/O without a TSS bitmap need CPL &lt;= IOPL in protected mode.</summary>
    public static bool IoPrivileged(CpuCore cpu) => !cpu.ProtectedMode || cpu.Cpl <= cpu.Iopl;
}
