using static Sharpvisor.Engines.Emulator.Execution.CpuCore;

namespace Sharpvisor.Engines.Emulator.Execution;

/// <summary>
/// Delivers an interrupt or exception through the IDT (Intel SDM vol. 3, 6.12 and 6.14): 64-bit interrupt and trap
/// gates in IA-32e mode (IST, RSP0 from the TSS on a privilege change, SS made null, 16-byte aligned frame of SS,
/// RSP, RFLAGS, CS, RIP and the error code), 32- and 16-bit gates in protected mode, and the interrupt vector table
/// in real mode. Task gates are not supported (#GP with the IDT error code). Every memory access that can fault
/// happens before any register changes, so a fault during delivery leaves the core as it was and the caller can
/// raise the next event (#DF, then shutdown).
/// </summary>
public static class EventDelivery
{
    private const ulong GatePresent = 1UL << 47;
    private const int InterruptGate64 = 0xE, TrapGate64 = 0xF, InterruptGate16 = 0x6, TrapGate16 = 0x7;

    public static void Deliver(CpuCore cpu, byte vector, uint? errorCode, EventSource source)
    {
        if (!cpu.ProtectedMode) DeliverRealMode(cpu, vector);
        else if (cpu.LongModeActive) DeliverLongMode(cpu, vector, errorCode, source);
        else DeliverProtectedMode(cpu, vector, errorCode, source);
        cpu.Halted = false;
        cpu.BlockExitRequested = true;
    }

    private static uint ExternalBit(EventSource source) =>
        source is EventSource.Exception or EventSource.External or EventSource.PrivilegedSoftwareException ? 1u : 0u;

    private static bool IsSoftware(EventSource source) => source is EventSource.SoftwareInterrupt or EventSource.SoftwareException;

    private static void DeliverLongMode(CpuCore cpu, byte vector, uint? errorCode, EventSource source)
    {
        uint ext = ExternalBit(source);
        uint idtError = (uint)vector * 8 + 2 + ext;
        uint offset = (uint)vector * 16;
        if (offset + 15 > cpu.IdtLimit) throw new GuestFault(GuestFault.GeneralProtection, idtError);
        ulong low = Segmentation.ReadSystem(cpu, cpu.IdtBase + offset, 8);
        ulong high = Segmentation.ReadSystem(cpu, cpu.IdtBase + offset + 8, 8);
        int type = (int)((low >> 40) & 0x1F); // with the S bit, which a gate has clear
        if (type != InterruptGate64 && type != TrapGate64) throw new GuestFault(GuestFault.GeneralProtection, idtError);
        if (IsSoftware(source) && (int)((low >> 45) & 3) < cpu.Cpl) throw new GuestFault(GuestFault.GeneralProtection, idtError);
        if ((low & GatePresent) == 0) throw new GuestFault(GuestFault.SegmentNotPresent, idtError);

        var cs = Segmentation.CheckGateTarget(cpu, (ushort)(low >> 16), ext, out int newCpl);
        ulong target = (low & 0xFFFF) | ((low >> 32) & 0xFFFF_0000) | (high << 32);
        if (!Segmentation.IsCanonical(target)) throw new GuestFault(GuestFault.GeneralProtection, ext);

        int oldCpl = cpu.Cpl;
        bool privilegeChange = newCpl < oldCpl;
        ulong rsp = cpu.Gpr[Rsp];
        if (privilegeChange) rsp = ReadTss(cpu, 4 + 8 * (uint)newCpl, 8, ext);
        int ist = (int)((low >> 32) & 7);
        if (ist != 0) rsp = ReadTss(cpu, 0x24 + 8 * (uint)(ist - 1), 8, ext);
        rsp &= ~0xFUL;

        int words = errorCode.HasValue ? 6 : 5;
        ulong top = rsp - (ulong)words * 8;
        if (!Segmentation.IsCanonical(top) || !Segmentation.IsCanonical(rsp - 1)) throw new GuestFault(GuestFault.StackFault, ext);
        cpu.Cpl = newCpl; // the frame is written at the handler's privilege
        try
        {
            ulong at = rsp;
            cpu.Memory.Write(at -= 8, 8, cpu.Segments[Ss].Selector);
            cpu.Memory.Write(at -= 8, 8, cpu.Gpr[Rsp]);
            cpu.Memory.Write(at -= 8, 8, cpu.Rflags);
            cpu.Memory.Write(at -= 8, 8, cpu.Segments[Cs].Selector);
            cpu.Memory.Write(at -= 8, 8, cpu.Rip);
            if (errorCode is { } code) cpu.Memory.Write(at - 8, 8, code);
        }
        catch (GuestFault)
        {
            cpu.Cpl = oldCpl;
            throw;
        }

        cpu.Segments[Cs] = cs;
        if (privilegeChange)
            cpu.Segments[Ss] = new SegmentCache { Selector = (ushort)newCpl, Attributes = SegmentCache.UnusableBit | ((uint)newCpl << 5) | 0x3 };
        cpu.Gpr[Rsp] = top;
        cpu.Rip = target;
        ClearFlagsOnEntry(cpu, type == InterruptGate64);
        cpu.UpdateBitness();
    }

    private static void DeliverProtectedMode(CpuCore cpu, byte vector, uint? errorCode, EventSource source)
    {
        uint ext = ExternalBit(source);
        uint idtError = (uint)vector * 8 + 2 + ext;
        uint offset = (uint)vector * 8;
        if (offset + 7 > cpu.IdtLimit) throw new GuestFault(GuestFault.GeneralProtection, idtError);
        ulong gate = Segmentation.ReadSystem(cpu, (uint)(cpu.IdtBase + offset), 8);
        int type = (int)((gate >> 40) & 0x1F);
        bool wide = type is InterruptGate64 or TrapGate64; // 32-bit gates share the 64-bit gates' type numbers
        if (!wide && type != InterruptGate16 && type != TrapGate16) throw new GuestFault(GuestFault.GeneralProtection, idtError);
        if (IsSoftware(source) && (int)((gate >> 45) & 3) < cpu.Cpl) throw new GuestFault(GuestFault.GeneralProtection, idtError);
        if ((gate & GatePresent) == 0) throw new GuestFault(GuestFault.SegmentNotPresent, idtError);

        var cs = Segmentation.CheckGateTarget(cpu, (ushort)(gate >> 16), ext, out int newCpl);
        ulong target = wide ? (gate & 0xFFFF) | ((gate >> 32) & 0xFFFF_0000) : gate & 0xFFFF;
        int width = wide ? 4 : 2;

        int oldCpl = cpu.Cpl;
        bool privilegeChange = newCpl < oldCpl;
        SegmentCache ss = cpu.Segments[Ss];
        ulong esp = cpu.Gpr[Rsp];
        if (privilegeChange)
        {
            esp = ReadTss(cpu, 4 + 8 * (uint)newCpl, 4, ext);
            ushort ssSelector = (ushort)ReadTss(cpu, 8 + 8 * (uint)newCpl, 2, ext);
            ss = Segmentation.CheckStackSegment(cpu, ssSelector, newCpl, GuestFault.InvalidTss);
        }
        ulong stackMask = ss.DefaultBig ? 0xFFFF_FFFF : 0xFFFF;
        int words = (privilegeChange ? 5 : 3) + (errorCode.HasValue ? 1 : 0);
        ulong top = esp - (ulong)(words * width);
        cpu.Cpl = newCpl;
        try
        {
            ulong at = esp;
            void Push(CpuCore c, ulong value)
            {
                at -= (ulong)width;
                c.Memory.Write((uint)(ss.Base + (at & stackMask)), width, value);
            }
            if (privilegeChange)
            {
                Push(cpu, cpu.Segments[Ss].Selector);
                Push(cpu, cpu.Gpr[Rsp]);
            }
            Push(cpu, cpu.Rflags);
            Push(cpu, cpu.Segments[Cs].Selector);
            Push(cpu, cpu.Rip);
            if (errorCode is { } code) Push(cpu, code);
        }
        catch (GuestFault)
        {
            cpu.Cpl = oldCpl;
            throw;
        }

        cpu.Segments[Cs] = cs;
        if (privilegeChange) cpu.Segments[Ss] = ss;
        cpu.Gpr[Rsp] = stackMask == 0xFFFF ? (cpu.Gpr[Rsp] & ~0xFFFFUL) | (top & 0xFFFF) : (uint)top;
        cpu.Rip = target;
        ClearFlagsOnEntry(cpu, type is InterruptGate64 or InterruptGate16);
        cpu.UpdateBitness();
    }

    private static void DeliverRealMode(CpuCore cpu, byte vector)
    {
        uint offset = (uint)vector * 4;
        if (offset + 3 > cpu.IdtLimit) throw new GuestFault(GuestFault.GeneralProtection, 0);
        uint entry = (uint)Segmentation.ReadSystem(cpu, cpu.IdtBase + offset, 4);
        ulong stackBase = cpu.Segments[Ss].Base;
        ulong sp = cpu.Gpr[Rsp];
        ulong Address(ulong s) => stackBase + (s & 0xFFFF);
        cpu.Memory.Write(Address(sp - 2), 2, cpu.Rflags);
        cpu.Memory.Write(Address(sp - 4), 2, cpu.Segments[Cs].Selector);
        cpu.Memory.Write(Address(sp - 6), 2, cpu.Rip);
        cpu.Gpr[Rsp] = (sp & ~0xFFFFUL) | ((sp - 6) & 0xFFFF);
        ref var cs = ref cpu.Segments[Cs];
        cs.Selector = (ushort)(entry >> 16);
        cs.Base = (ulong)(entry >> 16) << 4;
        cpu.Rip = entry & 0xFFFF;
        cpu.ControlFlags &= ~(InterruptFlag | TrapFlag | AlignmentCheckFlag | ResumeFlag);
    }

    /// <summary>TF, NT, RF and VM are cleared on every gate; IF only through an interrupt gate.</summary>
    private static void ClearFlagsOnEntry(CpuCore cpu, bool interruptGate)
    {
        ulong clear = TrapFlag | NestedTaskFlag | ResumeFlag | Virtual8086Flag;
        if (interruptGate) clear |= InterruptFlag;
        cpu.ControlFlags &= ~clear;
    }

    /// <summary>A field of the current TSS (a supervisor read); beyond TR's limit it is #TS(TR selector).</summary>
    private static ulong ReadTss(CpuCore cpu, uint offset, int size, uint ext)
    {
        ref var tr = ref cpu.Tr;
        if (offset + (uint)size - 1 > tr.Limit || (tr.Attributes & SegmentCache.UnusableBit) != 0)
            throw new GuestFault(GuestFault.InvalidTss, (uint)(tr.Selector & 0xFFFC) | ext);
        return Segmentation.ReadSystem(cpu, tr.Base + offset, size);
    }
}
