using System.Collections.Concurrent;
using System.Runtime.CompilerServices;
using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Engines.Emulator.Instructions;
using Sharpvisor.Engines.Emulator.Instructions.SystemMode;
using Sharpvisor.Engines.Emulator.Memory;

namespace Sharpvisor.Engines.Emulator.Decoding;

/// <summary>
/// Decoded blocks keyed by guest-physical address and code size, so a block is decoded once however often it runs,
/// and dropped when a store lands on its page (see <see cref="CodePageTracker"/>).
/// </summary>
/// <remarks>
/// One cache belongs to one vCPU thread (the one calling <see cref="Get"/>), but <see cref="InvalidatePage"/> may run
/// on any thread: a store by another vCPU to code this one decoded. Such a call marks the page's blocks invalid at
/// once (a volatile flag the interpreter checks after every instruction) and queues the page; the owning thread
/// removes the blocks from its dictionaries at its next <see cref="Get"/>. The page lists are guarded by a lock that
/// only the invalidation and the owner's slow paths (decode, drain) take; a lookup takes none.
/// </remarks>
public sealed class BlockCache
{
    public const int MaxInstructionsPerBlock = 64;
    private const int MaxInstructionLength = 15;
    // 16,384 slots: a Linux boot missed 8.2% of block lookups with 1,024 (dictionary lookups were 7% of the boot) and 0.85% with these.
    private const int RecentSlots = 16384;
    /// <summary>
    /// The most blocks one cache holds (about 400 bytes each with their instructions): past it, the cache starts over
    /// empty, as QEMU flushes its translations when its code buffer is full. A Debian boot to its shell holds about
    /// 60,000 (90,000 decoded), so the bound only stops a long-lived guest's cache from growing without end.
    /// </summary>
    public const int DefaultMaxBlocks = 131072;

    private readonly Dictionary<(ulong Physical, int Bitness), DecodedBlock> _blocks = [];
    private readonly Dictionary<ulong, List<DecodedBlock>> _blocksByPage = [];
    private readonly Lock _pageLock = new();
    private readonly ConcurrentQueue<ulong> _invalidatedPages = new();
    private volatile int _invalidationsPending;
    /// <summary>Counts InvalidatePage calls, so a decode can tell whether a store raced with it.</summary>
    private long _invalidationEpoch;
    /// <summary>A direct-mapped cache in front of the dictionary: the block last used at each physical-address hash.</summary>
    private readonly DecodedBlock?[] _recent = new DecodedBlock?[RecentSlots];
    private readonly InstructionTable _table;
    private readonly EmulatedMemory _memory;
    private readonly byte[] _window = new byte[4096 + MaxInstructionLength];
    // Decoding fills these (on the owning thread only); a block keeps copies sized to what it holds. Blocks average a
    // few instructions, so arrays of the maximum length (3 KiB a block) made the cache most of an idle VM's heap.
    private readonly Instruction[] _decodedInstructions = new Instruction[MaxInstructionsPerBlock];
    private readonly nint[] _decodedHandlers = new nint[MaxInstructionsPerBlock];
    private long _invalidations;

    private readonly int _maxBlocks;

    public long BlocksDecoded { get; private set; }
    public long Invalidations => Interlocked.Read(ref _invalidations);
    /// <summary>How often the cache was full and started over (see <see cref="DefaultMaxBlocks"/>).</summary>
    public long Flushes { get; private set; }
    /// <summary>The blocks held now.</summary>
    public int Count => _blocks.Count;

    public BlockCache(EmulatedMemory memory, InstructionTable table, int maxBlocks = DefaultMaxBlocks)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(maxBlocks, 1);
        _memory = memory;
        _table = table;
        _maxBlocks = maxBlocks;
        memory.CodePages.CodePageWritten += InvalidatePage;
    }

    public DecodedBlock Get(CpuCore cpu)
    {
        if (_invalidationsPending != 0) DrainInvalidations();
        ulong rip = cpu.Rip;
        int bitness = cpu.Bitness;
        // Outside 64-bit mode code is fetched at CS.base + EIP/IP (wrapping at 4 GiB); the instructions keep the offset as IP.
        ulong linear = bitness == 64 ? rip : FetchAddress(cpu, rip);
        ulong physical = _memory.Translator.Translate(linear, AccessKind.Execute);
        ref var slot = ref _recent[RecentSlot(physical)];
        var block = slot;
        // The start IP is compared too: the same physical code reached through another CS base or mapped at another
        // linear address (the vDSO in each process) has other IPs, RIP-relative operands and branch targets.
        if (block is not null && block.PhysicalAddress == physical && block.StartIp == rip && block.Bitness == bitness && block.Valid) return block;
        if (!_blocks.TryGetValue((physical, bitness), out block) || !block.Valid || block.StartIp != rip)
            block = DecodeAndRegister(rip, linear, physical, bitness);
        slot = block;
        return block;
    }

    /// <summary>
    /// The block at RIP after <paramref name="previous"/> has run: the one that followed it last time, when that one
    /// starts at RIP, is still valid, and neither any translation (<see cref="EmulatedMemory.TranslationEpoch"/>) nor
    /// the CPL (the fetch's rights) changed since; otherwise <see cref="Get"/>, whose answer becomes the new link.
    /// 64-bit code only, where the fetch address is RIP itself. In a Linux boot the lookup and fetch translation of
    /// <see cref="Get"/> were a fifth of the vCPU thread's time.
    /// </summary>
    public DecodedBlock Next(CpuCore cpu, DecodedBlock previous)
    {
        var next = previous.Successor;
        if (next is not null && next.StartIp == cpu.Rip && previous.SuccessorEpoch == _memory.TranslationEpoch
            && previous.SuccessorCpl == cpu.Cpl && cpu.Bitness == 64 && next.Bitness == 64 && next.Valid
            && _invalidationsPending == 0 && _memory.TranslationsChangeOnlyThroughTlb)
            return next;
        next = Get(cpu);
        previous.Successor = next;
        previous.SuccessorEpoch = _memory.TranslationEpoch;
        previous.SuccessorCpl = cpu.Cpl;
        return next;
    }

    [MethodImpl(MethodImplOptions.NoInlining)]
    private static ulong FetchAddress(CpuCore cpu, ulong rip) => (uint)(cpu.Segments[CpuCore.Cs].Base + rip);

    [MethodImpl(MethodImplOptions.AggressiveInlining)]
    private static int RecentSlot(ulong physical) => (int)((physical ^ (physical >> 10)) & (RecentSlots - 1));

    private DecodedBlock DecodeAndRegister(ulong rip, ulong linear, ulong physical, int bitness)
    {
        if (_blocks.Count >= _maxBlocks)
        {
            Clear();
            Flushes++;
        }
        long epoch = Interlocked.Read(ref _invalidationEpoch);
        var block = Decode(rip, linear, physical, bitness);
        BlocksDecoded++;
        lock (_pageLock)
        {
            if (Interlocked.Read(ref _invalidationEpoch) != epoch && WasInvalidatedSince(block))
            {
                // A store (on another thread) hit the block's pages while we read them: run what we read once, keep nothing.
                block.Valid = false;
                return block;
            }
            // A block it replaces (same physical start, other start IP) leaves the page lists too, or a page mapped
            // at a new address in every process (the vDSO) would collect blocks nothing can reach.
            if (_blocks.TryGetValue((physical, bitness), out var replaced))
            {
                for (ulong page = replaced.FirstPhysicalPage; page <= replaced.LastPhysicalPage; page++)
                    if (_blocksByPage.TryGetValue(page, out var list)) list.Remove(replaced);
                // Out of the page lists, no store would invalidate it: a link to it must not run it again.
                replaced.Valid = false;
                replaced.Successor = null;
            }
            for (ulong page = block.FirstPhysicalPage; page <= block.LastPhysicalPage; page++)
            {
                if (!_blocksByPage.TryGetValue(page, out var list)) _blocksByPage[page] = list = [];
                list.Add(block);
            }
        }
        _blocks[(physical, bitness)] = block;
        return block;
    }

    /// <summary>Whether a page of <paramref name="block"/> is waiting in the invalidation queue (called under the lock).</summary>
    private bool WasInvalidatedSince(DecodedBlock block)
    {
        foreach (ulong page in _invalidatedPages)
            if (page >= block.FirstPhysicalPage && page <= block.LastPhysicalPage) return true;
        return false;
    }

    /// <summary>Decodes from the linear address <paramref name="linear"/>; the instructions get <paramref name="rip"/> (the offset in CS) as IP.</summary>
    private DecodedBlock Decode(ulong rip, ulong linear, ulong physical, int bitness)
    {
        // The page is marked before its bytes are read, so a store from now on reports itself (see DecodeAndRegister).
        _memory.CodePages.MarkCode(physical >> 12);
        // The bytes from RIP to the end of its page, and, only if an instruction needs them, up to 15 from the next.
        int inPage = (int)(0x1000 - (linear & 0xFFF));
        _memory.ReadBytes(linear, _window.AsSpan(0, inPage), AccessKind.Execute);
        int available = inPage;
        var decoder = Decoder.Create(bitness, new ByteArrayCodeReader(_window, 0, available), rip);
        var instructions = _decodedInstructions;
        var handlers = _decodedHandlers;
        ulong lastPage = physical >> 12;
        int count = 0;
        while (count < MaxInstructionsPerBlock)
        {
            ulong offset = decoder.IP - rip;
            if ((int)offset >= available) break; // the page is used up
            decoder.Decode(out var instruction);
            if (decoder.LastError == DecoderError.NoMoreBytes && available == inPage)
            {
                // The instruction crosses into the next page: fetch its tail (this may fault, as on hardware).
                ulong nextPage = bitness == 64 ? linear + (ulong)inPage : (uint)(linear + (ulong)inPage);
                lastPage = _memory.Translator.Translate(nextPage, AccessKind.Execute) >> 12;
                _memory.CodePages.MarkCode(lastPage);
                int tail = Math.Min(MaxInstructionLength, _window.Length - inPage);
                _memory.ReadBytes(nextPage, _window.AsSpan(inPage, tail), AccessKind.Execute);
                available = inPage + tail;
                decoder = Decoder.Create(bitness, new ByteArrayCodeReader(_window, (int)offset, available - (int)offset), rip + offset);
                decoder.Decode(out instruction);
            }
            instructions[count] = instruction;
            handlers[count] = Resolve(instruction, bitness);
            count++;
            if (instruction.IsInvalid || instruction.FlowControl != FlowControl.Next || !_table.IsImplemented(instruction.Code)) break;
            if (StringInstructions.IsRepeated(instruction)) break; // it may set RIP back to itself to resume later
            if (instruction.NextIP - rip > (ulong)inPage) break; // ended in the next page
        }
        return new DecodedBlock(physical, bitness, rip, instructions.AsSpan(0, count).ToArray(), handlers.AsSpan(0, count).ToArray(), count, lastPage);
    }

    private unsafe nint Resolve(in Instruction instruction, int bitness)
    {
        if (instruction.IsInvalid) return (nint)(delegate*<CpuCore, ref Instruction, void>)&RaiseInvalidOpcode;
        nint handler = _table.Resolve(instruction, bitness);
        if (handler == 0) return (nint)(delegate*<CpuCore, ref Instruction, void>)&ReportUnimplemented;
        // LOCK and XCHG on memory go through a compare-and-exchange, so they stay atomic against other vCPUs.
        if (LockedMemoryOperations.Applies(instruction)) return (nint)(delegate*<CpuCore, ref Instruction, void>)&LockedMemoryOperations.Execute;
        return handler;
    }

    private static void RaiseInvalidOpcode(CpuCore cpu, ref Instruction instruction) => throw new GuestFault(GuestFault.InvalidOpcode);

    private static void ReportUnimplemented(CpuCore cpu, ref Instruction instruction)
    {
        var bytes = new byte[instruction.Length];
        try { cpu.Memory.ReadBytes(instruction.IP, bytes, AccessKind.Execute); } catch (GuestFault) { }
        var output = new StringOutput();
        new NasmFormatter().Format(instruction, output);
        throw new UnimplementedInstructionException(instruction.IP, bytes, output.ToStringAndReset());
    }

    /// <summary>
    /// A store landed on <paramref name="page"/> (a physical page number). Safe from any thread: the page's blocks
    /// stop at once; the owning thread forgets them at its next <see cref="Get"/>.
    /// </summary>
    public void InvalidatePage(ulong page)
    {
        lock (_pageLock)
        {
            Interlocked.Increment(ref _invalidationEpoch);
            if (_blocksByPage.TryGetValue(page, out var list))
                foreach (var block in list)
                    if (block.Valid)
                    {
                        block.Valid = false;
                        Interlocked.Increment(ref _invalidations);
                    }
            _invalidatedPages.Enqueue(page);
            _invalidationsPending = 1;
        }
    }

    /// <summary>On the owning thread: drops the blocks of every queued page from the dictionaries.</summary>
    private void DrainInvalidations()
    {
        lock (_pageLock)
        {
            _invalidationsPending = 0;
            while (_invalidatedPages.TryDequeue(out ulong page))
            {
                if (!_blocksByPage.TryGetValue(page, out var list)) continue;
                // Only the invalid ones: a block decoded after the store, from the new bytes, stays.
                int kept = 0;
                for (int n = 0; n < list.Count; n++)
                {
                    var block = list[n];
                    if (block.Valid) { list[kept++] = block; continue; }
                    // A dropped block keeps no successor alive: links through dropped blocks would chain them all.
                    block.Successor = null;
                    var key = (block.PhysicalAddress, block.Bitness);
                    if (_blocks.TryGetValue(key, out var current) && current == block) _blocks.Remove(key);
                }
                list.RemoveRange(kept, list.Count - kept);
                if (kept == 0) _blocksByPage.Remove(page);
            }
        }
    }

    public void Clear()
    {
        List<ulong> pages;
        lock (_pageLock) pages = [.. _blocksByPage.Keys];
        foreach (var page in pages) InvalidatePage(page);
        DrainInvalidations();
        Array.Clear(_recent);
    }
}
