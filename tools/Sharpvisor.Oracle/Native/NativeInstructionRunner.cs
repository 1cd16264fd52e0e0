using System.Runtime.CompilerServices;
using Sharpvisor.Machine.Native;

namespace Sharpvisor.Oracle.Native;

/// <summary>
/// Runs one <see cref="InstructionCase"/> on the host CPU, in this process. The code page (a memfd mapped twice:
/// RX for execution, RW for patching the instruction slot), the control block right after it and the memory
/// window (two RW pages between PROT_NONE guards, at <see cref="InstructionCase.CanonicalWindowBase"/> when that
/// address is free) are mapped once; <see cref="Run(InstructionCase, InstructionOutcome)"/> allocates nothing.
/// A case that faults kills the process (the .NET runtime cannot resume from a fault in foreign code): run only
/// cases that <see cref="CaseSafety.IsKnownSafe"/> accepts here, and everything else through
/// <see cref="Isolation.IsolatedNativeRunner"/>. Not thread-safe: one runner per thread.
/// </summary>
public sealed class NativeInstructionRunner : IDisposable
{
    private const int PageSize = 4096;
    private const int CodeSize = PageSize;
    private const int WindowGuard = PageSize;

    private readonly nint _codeRegion;     // code page (RX) + control block (RW)
    private readonly nint _codeWritable;   // RW alias of the code page
    private readonly nint _windowRegion;   // guard + window + guard
    private readonly unsafe byte* _control;
    private readonly unsafe byte* _slotWritable;
    private readonly unsafe delegate* unmanaged<nint, void> _entry;
    private readonly byte[] _currentSlot = new byte[StubEmitter.SlotSize];
    private readonly int _slotOffset;
    private bool _disposed;

    public unsafe NativeInstructionRunner(bool placeWindowAtCanonicalAddress = true)
    {
        // The code page and control block are contiguous so the stubs reach the block RIP-relatively.
        _codeRegion = Libc.mmap(0, CodeSize + ControlBlock.Size, Libc.ProtNone,
            Libc.MapPrivate | Libc.MapAnonymous | Libc.MapNoReserve, -1, 0);
        if (_codeRegion == Libc.MapFailed) throw NativeFailure.Of("mmap(code region)");

        int fd = Libc.memfd_create("sharpvisor-oracle-code", Libc.MfdCloExec);
        if (fd < 0) throw NativeFailure.Of("memfd_create");
        try
        {
            if (Libc.ftruncate(fd, CodeSize) != 0) throw NativeFailure.Of("ftruncate");
            if (Libc.mmap(_codeRegion, CodeSize, Libc.ProtRead | Libc.ProtExec,
                    Libc.MapShared | Libc.MapFixed, fd, 0) != _codeRegion)
                throw NativeFailure.Of("mmap(code RX)");
            _codeWritable = Libc.mmap(0, CodeSize, Libc.ProtRead | Libc.ProtWrite, Libc.MapShared, fd, 0);
            if (_codeWritable == Libc.MapFailed) throw NativeFailure.Of("mmap(code RW)");
        }
        finally
        {
            Libc.close(fd);
        }
        nint control = _codeRegion + CodeSize;
        if (Libc.mmap(control, ControlBlock.Size, Libc.ProtRead | Libc.ProtWrite,
                Libc.MapPrivate | Libc.MapAnonymous | Libc.MapFixed, -1, 0) != control)
            throw NativeFailure.Of("mmap(control block)");
        _control = (byte*)control;

        _windowRegion = MapWindow(placeWindowAtCanonicalAddress);
        WindowAddress = (ulong)(_windowRegion + WindowGuard);

        var layout = new StubEmitter((ulong)control).Build((ulong)_codeRegion);
        layout.Code.CopyTo(new Span<byte>((void*)_codeWritable, CodeSize));
        _slotOffset = layout.SlotOffset;
        _slotWritable = (byte*)_codeWritable + _slotOffset;
        _currentSlot.AsSpan().Fill(0x90);
        _entry = (delegate* unmanaged<nint, void>)(_codeRegion + layout.EntryOffset);
        HandlerAddress = _codeRegion + layout.HandlerOffset;

        // All signals except the synchronous fault signals stay blocked while a case runs.
        ulong blocked = ~0UL;
        foreach (int signal in (ReadOnlySpan<int>)[InstructionFault.Sigill, InstructionFault.Sigtrap, InstructionFault.Sigbus, InstructionFault.Sigfpe, InstructionFault.Sigsegv])
            blocked &= ~(1UL << (signal - 1));
        *(ulong*)(_control + ControlBlock.BlockedSignals) = blocked;
    }

    /// <summary>Where the window really is; equals <see cref="InstructionCase.CanonicalWindowBase"/> when that address was free.</summary>
    public ulong WindowAddress { get; }

    public bool WindowIsAtCanonicalAddress => WindowAddress == InstructionCase.CanonicalWindowBase;

    /// <summary>The emitted SA_SIGINFO handler; the worker installs it to turn faults into outcomes.</summary>
    internal nint HandlerAddress { get; }

    /// <summary>Runs a case and returns a new outcome.</summary>
    public InstructionOutcome Run(InstructionCase instructionCase)
    {
        var outcome = InstructionOutcome.CreateBuffers();
        Run(instructionCase, outcome);
        return outcome;
    }

    /// <summary>Runs a case and overwrites <paramref name="outcome"/> (allocation-free).</summary>
    public unsafe void Run(InstructionCase instructionCase, InstructionOutcome outcome)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        instructionCase.Validate();
        ulong delta = WindowAddress - InstructionCase.CanonicalWindowBase;
        ushort pointers = instructionCase.PointerRegisters;

        ulong* inGprs = (ulong*)(_control + ControlBlock.InGprs);
        for (int i = 0; i < InstructionCase.GprCount; i++)
            inGprs[i] = instructionCase.Gprs[i] + (((pointers >> i) & 1) != 0 ? delta : 0);
        // IF is set so the value matches what popfq may keep at CPL3 anyway.
        *(ulong*)(_control + ControlBlock.InRflags) = (instructionCase.Rflags & InstructionCase.InputFlagsMask) | InstructionCase.FlagsFixedBits | 0x200;
        // Reserved MXCSR bits would make the entry's ldmxcsr raise #GP.
        *(uint*)(_control + ControlBlock.InMxcsr) = instructionCase.Mxcsr & 0xFFFF;
        instructionCase.Xmm.CopyTo(new Span<byte>(_control + ControlBlock.InXmm, InstructionCase.XmmBytes));
        // The x87 image for the entry's FXRSTOR64; its MXCSR must be valid (the real one follows with LDMXCSR).
        var fxsave = new Span<byte>(_control + ControlBlock.InFxsave, 512);
        instructionCase.X87State.CopyTo(fxsave);
        *(uint*)(_control + ControlBlock.InFxsave + ControlBlock.FxsaveMxcsr) = InstructionCase.DefaultMxcsr;
        *(uint*)(_control + ControlBlock.InFxsave + ControlBlock.FxsaveMxcsr + 4) = 0;
        instructionCase.Memory.CopyTo(new Span<byte>((void*)WindowAddress, InstructionCase.WindowSize));
        *(uint*)(_control + ControlBlock.FaultFlag) = 0;
        PatchSlot(instructionCase.Code);

        _entry(0);

        if (*(uint*)(_control + ControlBlock.FaultFlag) != 0) ReadFaultOutcome(outcome, pointers, delta);
        else ReadNormalOutcome(outcome, pointers, delta);
        new ReadOnlySpan<byte>((void*)WindowAddress, InstructionCase.WindowSize).CopyTo(outcome.Memory);
    }

    /// <summary>True after a fault was recovered by the handler; the worker then re-arms it (SA_RESETHAND).</summary>
    internal unsafe bool LastRunFaulted => *(uint*)(_control + ControlBlock.FaultFlag) != 0;

    private unsafe void ReadNormalOutcome(InstructionOutcome outcome, ushort pointers, ulong delta)
    {
        ulong* outGprs = (ulong*)(_control + ControlBlock.OutGprs);
        for (int i = 0; i < InstructionCase.GprCount; i++)
            outcome.Gprs[i] = ToCanonical(outGprs[i], pointers, i, delta);
        outcome.Rflags = *(ulong*)(_control + ControlBlock.OutRflags) & InstructionOutcome.OutputFlagsMask;
        outcome.Mxcsr = *(uint*)(_control + ControlBlock.OutMxcsr);
        new ReadOnlySpan<byte>(_control + ControlBlock.OutXmm, InstructionCase.XmmBytes).CopyTo(outcome.Xmm);
        new ReadOnlySpan<byte>(_control + ControlBlock.OutFxsave, InstructionCase.X87StateBytes).CopyTo(outcome.X87State);
        outcome.Fault = InstructionFault.None;
    }

    private unsafe void ReadFaultOutcome(InstructionOutcome outcome, ushort pointers, ulong delta)
    {
        ulong* gregs = (ulong*)(_control + ControlBlock.FaultGregs);
        ReadOnlySpan<byte> gregOf = ControlBlock.GregOfGpr;
        for (int i = 0; i < InstructionCase.GprCount; i++)
            outcome.Gprs[i] = ToCanonical(gregs[gregOf[i]], pointers, i, delta);
        outcome.Rflags = gregs[ControlBlock.GregEflags] & InstructionOutcome.OutputFlagsMask;
        byte* fx = _control + ControlBlock.FaultFxsave;
        outcome.Mxcsr = *(uint*)(fx + ControlBlock.FxsaveMxcsr);
        new ReadOnlySpan<byte>(fx + ControlBlock.FxsaveXmm, InstructionCase.XmmBytes).CopyTo(outcome.Xmm);
        new ReadOnlySpan<byte>(fx, InstructionCase.X87StateBytes).CopyTo(outcome.X87State);

        int vector = (int)gregs[ControlBlock.GregTrapno];
        int signal = *(int*)(_control + ControlBlock.FaultSignal);
        ulong address = *(ulong*)(_control + ControlBlock.FaultAddress);
        if (address - WindowAddress < InstructionCase.WindowSize) address -= delta;
        FaultKind kind = InstructionFault.KindFromVector(vector);
        if (kind == FaultKind.WorkerLost) kind = InstructionFault.KindFromSignal(signal);
        outcome.Fault = new InstructionFault(kind, vector, signal, *(int*)(_control + ControlBlock.FaultCode),
            gregs[ControlBlock.GregErr], address);
    }

    /// <summary>
    /// Pointer registers move back by the window's displacement. So does any other register that ends up within a
    /// page of the real window: the instruction copied a pointer (lea rbx, [rsi]; mov rax, rsi). A random value
    /// lands there with probability about 2^-49, so this does not disturb ordinary results.
    /// </summary>
    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private ulong ToCanonical(ulong value, ushort pointers, int index, ulong delta)
    {
        if (delta == 0) return value;
        bool nearWindow = value - (WindowAddress - WindowGuard) < InstructionCase.WindowSize + 2 * WindowGuard;
        return ((pointers >> index) & 1) != 0 || nearWindow ? value - delta : value;
    }

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private unsafe void PatchSlot(byte[] code)
    {
        // Writing the code page costs a self-modifying-code pipeline flush; skip it when the bytes are unchanged.
        Span<byte> current = _currentSlot;
        if (current[..code.Length].SequenceEqual(code) && current[code.Length..].IndexOfAnyExcept((byte)0x90) < 0) return;
        current.Fill(0x90);
        code.CopyTo(current);
        current.CopyTo(new Span<byte>(_slotWritable, StubEmitter.SlotSize));
    }

    private static nint MapWindow(bool atCanonical)
    {
        const int total = WindowGuard + InstructionCase.WindowSize + WindowGuard;
        nint region = Libc.MapFailed;
        if (atCanonical)
        {
            nint wanted = unchecked((nint)(InstructionCase.CanonicalWindowBase - WindowGuard));
            region = Libc.mmap(wanted, total, Libc.ProtNone,
                Libc.MapPrivate | Libc.MapAnonymous | Libc.MapNoReserve | Libc.MapFixedNoReplace, -1, 0);
            if (region != Libc.MapFailed && region != wanted)
            {
                Libc.munmap(region, total); // an old kernel treated the flag as a hint
                region = Libc.MapFailed;
            }
        }
        if (region == Libc.MapFailed)
            region = Libc.mmap(0, total, Libc.ProtNone, Libc.MapPrivate | Libc.MapAnonymous | Libc.MapNoReserve, -1, 0);
        if (region == Libc.MapFailed) throw NativeFailure.Of("mmap(window)");
        if (Libc.mprotect(region + WindowGuard, InstructionCase.WindowSize, Libc.ProtRead | Libc.ProtWrite) != 0)
            throw NativeFailure.Of("mprotect(window)");
        return region;
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        Libc.munmap(_codeWritable, CodeSize);
        Libc.munmap(_codeRegion, CodeSize + ControlBlock.Size);
        Libc.munmap(_windowRegion, WindowGuard + InstructionCase.WindowSize + WindowGuard);
    }
}
