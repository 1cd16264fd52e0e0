using System.Runtime.CompilerServices;
using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Machine.Cpu;

namespace Sharpvisor.Engines.Emulator.Memory;

/// <summary>
/// The x86 paging unit of one vCPU: linear to guest-physical by CR0, CR3, CR4, EFER and CPL, with the page walk, the
/// Accessed/Dirty updates and the permission checks, and the vCPU's <see cref="TranslationLookasideBuffer"/> in front.
/// </summary>
/// <remarks>
/// <para>Modes: paging off (linear = physical, truncated to 32 bits), 4-level IA-32e paging (CR0.PG with EFER.LME or
/// LMA; 4 KiB, 2 MiB and 1 GiB pages; LA57 is not supported), PAE paging and 32-bit paging (4 MiB pages with CR4.PSE,
/// PSE-36 addresses). In PAE mode the four PDPTEs are read at walk time rather than latched at MOV CR3, and a
/// reserved bit in one is reported as #PF with RSVD rather than #GP at the MOV.</para>
/// <para>Checks: U/S (CPL 3 is a user access except <see cref="AccessKind.SystemStructureRead"/>/<see cref="AccessKind.SystemStructureWrite"/>),
/// R/W with CR0.WP, execute-disable with EFER.NXE, SMEP with CR4.SMEP; SMAP and protection keys are not implemented
/// (not advertised). A non-canonical address in IA-32e mode raises #GP(0): the unit cannot tell a stack access, for
/// which the CPU raises #SS(0). PWT, PCD and PAT select memory types, which mean nothing here, and are ignored.</para>
/// <para>A and D are set with a compare-and-exchange on the entry in guest RAM (another vCPU may walk the same tables,
/// or the guest may change the entry under us): upper-level entries as the walk uses them, the leaf's A (and D for a
/// write) only when the access is allowed. Entries outside RAM are read from the MMIO bus and never updated.</para>
/// <para>The TLB bakes in CR0.WP, CR4.PGE/SMEP and EFER.NXE: whoever changes CR0, CR3, CR4 or EFER must call
/// <see cref="Flush"/> (with includeGlobal when CR0.PG/WP, CR4 or EFER change), and INVLPG <see cref="InvalidatePage"/>.
/// The CPL is not baked in: user and supervisor rights are cached separately, so a privilege change needs no flush.</para>
/// </remarks>
public sealed class PagingUnit : IAddressTranslator
{
    private const ulong Present = 1, Writable = 1 << 1, UserAccessible = 1 << 2, Accessed = 1 << 5, Dirty = 1 << 6,
        LargePage = 1 << 7, GlobalPage = 1 << 8, ExecuteDisable = 1UL << 63;
    private const ulong Cr0Paging = 1UL << 31, Cr0WriteProtect = 1 << 16;
    private const ulong Cr4PageSizeExtensions = 1 << 4, Cr4PhysicalAddressExtension = 1 << 5, Cr4GlobalPages = 1 << 7,
        Cr4SupervisorExecuteProtection = 1 << 20;
    private const ulong EferLongModeEnable = 1 << 8, EferLongModeActive = 1 << 10, EferNoExecuteEnable = 1 << 11;
    private const uint ErrorPresent = 1, ErrorWrite = 2, ErrorUser = 4, ErrorReserved = 8, ErrorFetch = 16;

    private readonly TranslationLookasideBuffer _tlb;
    private readonly EmulatedMemory _memory;
    private CpuidEntry[]? _cpuidSeen;
    private int _physicalAddressBits;
    /// <summary>Bits 51:MAXPHYADDR of an entry: reserved.</summary>
    private ulong _reservedAddressBits;
    /// <summary>Bits MAXPHYADDR-1:12: where an entry keeps the next table's or the page's address.</summary>
    private ulong _addressMask;

    /// <summary>A paging unit for <paramref name="cpu"/>, walking tables in its memory's RAM. Install it with <c>cpu.Memory.Translator = unit</c>.</summary>
    public PagingUnit(CpuCore cpu)
    {
        Cpu = cpu;
        _memory = cpu.Memory;
        _tlb = cpu.Memory.Tlb;
        UpdatePhysicalAddressWidth();
    }

    public CpuCore Cpu { get; }

    /// <summary>Page walks done (TLB misses that reached the tables), for tests and statistics.</summary>
    public long Walks { get; private set; }

    /// <summary>
    /// MAXPHYADDR: CPUID 8000_0008h EAX[7:0] from the core's CPUID table, 36 when that leaf is absent (the
    /// architectural default). Entry bits from here to 51 are reserved.
    /// </summary>
    public int PhysicalAddressBits
    {
        get
        {
            UpdatePhysicalAddressWidth();
            return _physicalAddressBits;
        }
    }

    public ulong Translate(ulong linear, AccessKind kind)
    {
        int cpl = Cpu.Cpl;
        if (_tlb.TryLookup(linear, TlbRights.Required(kind, cpl), out ulong physical)) return physical;
        return Walk(linear, kind, cpl == 3 && kind is AccessKind.Read or AccessKind.Write or AccessKind.Execute);
    }

    public void Flush(bool includeGlobal) => _tlb.Flush(includeGlobal);

    public void InvalidatePage(ulong linear) => _tlb.InvalidatePage(linear);

    private ulong Walk(ulong linear, AccessKind kind, bool user)
    {
        Walks++;
        var cpu = Cpu;
        if ((cpu.Cr0 & Cr0Paging) == 0)
        {
            ulong physical = linear & 0xFFFF_FFFF;
            _tlb.Insert(linear, physical, TlbRights.All, global: false, forWrite: kind is AccessKind.Write or AccessKind.SystemStructureWrite);
            return physical;
        }
        UpdatePhysicalAddressWidth();
        while (true)
        {
            ulong? physical;
            if ((cpu.Efer & (EferLongModeEnable | EferLongModeActive)) != 0)
            {
                if (((long)linear << 16 >> 16) != (long)linear) throw new GuestFault(GuestFault.GeneralProtection, 0);
                physical = WalkTables(linear, cpu.Cr3 & _addressMask, 4, kind, user, writable: true, userAccessible: true, noExecute: false);
            }
            else if ((cpu.Cr4 & Cr4PhysicalAddressExtension) != 0) physical = WalkPae((uint)linear, kind, user);
            else physical = WalkLegacy((uint)linear, kind, user);
            // Null: an entry changed under a compare-and-exchange; walk again with what is there now.
            if (physical is { } result) return result;
        }
    }

    /// <summary>
    /// Walks 8-byte entries from <paramref name="level"/> (4 = PML4, 3 = PDPT, 2 = PD, 1 = PT) down. Returns the
    /// physical address, or null when an entry changed while setting its Accessed bit.
    /// </summary>
    private unsafe ulong? WalkTables(ulong linear, ulong table, int level, AccessKind kind, bool user, bool writable, bool userAccessible, bool noExecute)
    {
        bool nxe = (Cpu.Efer & EferNoExecuteEnable) != 0;
        ulong reservedCommon = _reservedAddressBits | (nxe ? 0 : ExecuteDisable);
        for (; ; level--)
        {
            int shift = 12 + 9 * (level - 1);
            ulong entryAddress = table + ((linear >> shift) & 511) * 8;
            ulong* pointer = (ulong*)_memory.RamPointer(entryAddress, 8);
            // Safe: RamPointer gave a pointer only for 8 bytes of RAM; other vCPUs may store to it, hence the volatile read.
            ulong entry = pointer != null ? Volatile.Read(ref *pointer) : ReadEntryFromBus(entryAddress, 8);
            if ((entry & Present) == 0) throw PageFault(linear, kind, user, ErrorNone);
            bool leaf = level == 1 || (level <= 3 && (entry & LargePage) != 0);
            ulong reserved = reservedCommon | level switch
            {
                4 => LargePage,
                3 when leaf => 0x3FFF_E000UL, // bits 29:13 of a 1 GiB page's entry
                2 when leaf => 0x1F_E000UL, // bits 20:13 of a 2 MiB page's entry
                _ => 0,
            };
            if ((entry & reserved) != 0) throw PageFault(linear, kind, user, ErrorPresent | ErrorReserved);
            writable &= (entry & Writable) != 0;
            userAccessible &= (entry & UserAccessible) != 0;
            noExecute |= nxe && (entry & ExecuteDisable) != 0;
            if (leaf)
            {
                ulong pageSize = 1UL << shift;
                ulong physicalPage = (entry & _addressMask & ~(pageSize - 1)) | (linear & (pageSize - 1) & ~0xFFFUL);
                return Complete(linear, kind, user, entryAddress, pointer, null, entry, writable, userAccessible, noExecute, physicalPage, pageSize);
            }
            if ((entry & Accessed) == 0 && pointer != null)
            {
                if (!TrySet(pointer, entry, Accessed)) return null;
                NoteEntryWrite(entryAddress);
            }
            table = entry & _addressMask;
        }
    }

    private unsafe ulong? WalkPae(uint linear, AccessKind kind, bool user)
    {
        ulong entryAddress = (Cpu.Cr3 & 0xFFFF_FFE0) + ((linear >> 30) & 3) * 8;
        ulong* pointer = (ulong*)_memory.RamPointer(entryAddress, 8);
        // Safe: RamPointer gave a pointer only for 8 bytes of RAM.
        ulong pdpte = pointer != null ? Volatile.Read(ref *pointer) : ReadEntryFromBus(entryAddress, 8);
        if ((pdpte & Present) == 0) throw PageFault(linear, kind, user, ErrorNone);
        // A PAE PDPTE has no R/W, U/S, A or XD: bits 2:1, 8:5 and 63:MAXPHYADDR are reserved.
        if ((pdpte & (0x1E6UL | _reservedAddressBits | ExecuteDisable)) != 0) throw PageFault(linear, kind, user, ErrorPresent | ErrorReserved);
        return WalkTables(linear, pdpte & _addressMask, 2, kind, user, writable: true, userAccessible: true, noExecute: false);
    }

    /// <summary>32-bit paging: 4-byte entries, 4 KiB pages or (CR4.PSE) 4 MiB pages with PSE-36 high address bits.</summary>
    private unsafe ulong? WalkLegacy(uint linear, AccessKind kind, bool user)
    {
        ulong directoryAddress = (Cpu.Cr3 & 0xFFFF_F000) + ((linear >> 22) & 1023) * 4;
        uint* pointer = (uint*)_memory.RamPointer(directoryAddress, 4);
        // Safe: RamPointer gave a pointer only for 4 bytes of RAM.
        uint pde = pointer != null ? Volatile.Read(ref *pointer) : (uint)ReadEntryFromBus(directoryAddress, 4);
        if ((pde & Present) == 0) throw PageFault(linear, kind, user, ErrorNone);
        bool writable = (pde & Writable) != 0, userAccessible = (pde & UserAccessible) != 0;
        if ((pde & LargePage) != 0 && (Cpu.Cr4 & Cr4PageSizeExtensions) != 0)
        {
            // Bits 20:13 hold physical address bits 39:32 (as far as MAXPHYADDR reaches, the rest reserved); bit 21 is reserved.
            int highBits = Math.Min(_physicalAddressBits, 40) - 32;
            uint reserved = (1u << 21) | (0xFFu << (13 + highBits) & 0x1F_E000u);
            if ((pde & reserved) != 0) throw PageFault(linear, kind, user, ErrorPresent | ErrorReserved);
            ulong physicalPage = (pde & 0xFFC0_0000UL) | ((ulong)(pde >> 13) & 0xFF) << 32 | (linear & 0x3F_F000UL);
            return Complete(linear, kind, user, directoryAddress, null, pointer, pde, writable, userAccessible, false, physicalPage, 0x40_0000);
        }
        if ((pde & Accessed) == 0 && pointer != null)
        {
            if (Interlocked.CompareExchange(ref *pointer, pde | (uint)Accessed, pde) != pde) return null;
            NoteEntryWrite(directoryAddress);
        }
        ulong tableAddress = (pde & 0xFFFF_F000) + ((linear >> 12) & 1023) * 4;
        uint* ptePointer = (uint*)_memory.RamPointer(tableAddress, 4);
        // Safe: RamPointer gave a pointer only for 4 bytes of RAM.
        uint pte = ptePointer != null ? Volatile.Read(ref *ptePointer) : (uint)ReadEntryFromBus(tableAddress, 4);
        if ((pte & Present) == 0) throw PageFault(linear, kind, user, ErrorNone);
        writable &= (pte & Writable) != 0;
        userAccessible &= (pte & UserAccessible) != 0;
        return Complete(linear, kind, user, tableAddress, null, ptePointer, pte, writable, userAccessible, false, pte & 0xFFFF_F000UL, 4096);
    }

    /// <summary>
    /// The leaf: checks the access against the combined rights, sets A (and D for a write), fills the TLB. The leaf
    /// entry is at <paramref name="pointer64"/> or <paramref name="pointer32"/> (both null outside RAM).
    /// </summary>
    private unsafe ulong? Complete(ulong linear, AccessKind kind, bool user, ulong entryAddress, ulong* pointer64, uint* pointer32, ulong entry,
        bool writable, bool userAccessible, bool noExecute, ulong physicalPage, ulong pageSize)
    {
        var cpu = Cpu;
        bool writeProtect = (cpu.Cr0 & Cr0WriteProtect) != 0;
        bool smep = (cpu.Cr4 & Cr4SupervisorExecuteProtection) != 0;
        bool write = kind is AccessKind.Write or AccessKind.SystemStructureWrite;
        bool allowed = kind switch
        {
            AccessKind.Execute => !noExecute && (user ? userAccessible : !(smep && userAccessible)),
            AccessKind.Write or AccessKind.SystemStructureWrite => user ? userAccessible && writable : writable || !writeProtect,
            _ => !user || userAccessible,
        };
        if (!allowed) throw PageFault(linear, kind, user, ErrorPresent);

        ulong wanted = Accessed | (write ? Dirty : 0);
        if ((entry & wanted) != wanted)
        {
            if (pointer64 != null && !TrySet(pointer64, entry, wanted)) return null;
            // Safe: the entry pointers come from RamPointer for their exact size; a compare-exchange, as the CPU sets A/D atomically.
            if (pointer32 != null && Interlocked.CompareExchange(ref *pointer32, (uint)(entry | wanted), (uint)entry) != (uint)entry) return null;
            if (pointer64 != null || pointer32 != null)
            {
                entry |= wanted;
                NoteEntryWrite(entryAddress);
            }
        }

        // Write rights only once D is set, so that the first write to a clean page walks and sets it.
        bool dirty = (entry & Dirty) != 0;
        uint rights = TlbRights.SupervisorRead;
        if (dirty && (writable || !writeProtect)) rights |= TlbRights.SupervisorWrite;
        if (!noExecute && !(smep && userAccessible)) rights |= TlbRights.SupervisorExecute;
        if (userAccessible)
        {
            rights |= TlbRights.UserRead;
            if (dirty && writable) rights |= TlbRights.UserWrite;
            if (!noExecute) rights |= TlbRights.UserExecute;
        }
        bool global = (cpu.Cr4 & Cr4GlobalPages) != 0 && (entry & GlobalPage) != 0;
        _tlb.Insert(linear, physicalPage, rights, global, pageSize, write);
        return physicalPage | (linear & 0xFFF);
    }

    private const uint ErrorNone = 0;

    [MethodImpl(MethodImplOptions.NoInlining)]
    private GuestFault PageFault(ulong linear, AccessKind kind, bool user, uint bits)
    {
        var cpu = Cpu;
        uint code = bits;
        if (kind is AccessKind.Write or AccessKind.SystemStructureWrite) code |= ErrorWrite;
        if (user) code |= ErrorUser;
        // I/D is reported when execute-disable can apply (PAE or IA-32e paging with NXE) or SMEP is on.
        bool paeOrLong = (cpu.Cr4 & Cr4PhysicalAddressExtension) != 0;
        if (kind == AccessKind.Execute && ((paeOrLong && (cpu.Efer & EferNoExecuteEnable) != 0) || (cpu.Cr4 & Cr4SupervisorExecuteProtection) != 0))
            code |= ErrorFetch;
        return new GuestFault(GuestFault.PageFault, code, linear);
    }

    /// <summary>The walk set A or D in a paging-structure entry: a store to guest RAM the dirty log must see.</summary>
    private void NoteEntryWrite(ulong entryAddress)
    {
        if (_memory.DirtyLog is { Enabled: true } log) log.MarkPage(entryAddress);
    }

    /// <summary>Sets <paramref name="bits"/> in the entry if it still holds <paramref name="expected"/>; false if it changed.</summary>
    private static unsafe bool TrySet(ulong* pointer, ulong expected, ulong bits) =>
        // Safe: callers pass a RamPointer for this 8-byte entry.
        Interlocked.CompareExchange(ref *pointer, expected | bits, expected) == expected;

    private ulong ReadEntryFromBus(ulong physical, int size)
    {
        Span<byte> data = stackalloc byte[8];
        data.Clear();
        _memory.MmioAccesses++;
        _memory.Mmio.Read(physical, data[..size]);
        return BitConverter.ToUInt64(data);
    }

    private void UpdatePhysicalAddressWidth()
    {
        var cpuid = Cpu.Cpuid;
        if (ReferenceEquals(cpuid, _cpuidSeen)) return;
        _cpuidSeen = cpuid;
        int bits = 36;
        foreach (var leaf in cpuid)
            if (leaf.Function == 0x8000_0008 && (leaf.Eax & 0xFF) is >= 32 and <= 52 and var reported) bits = (int)reported;
        _physicalAddressBits = bits;
        _addressMask = ((1UL << bits) - 1) & ~0xFFFUL;
        _reservedAddressBits = ((1UL << 52) - 1) & ~((1UL << bits) - 1);
    }
}
