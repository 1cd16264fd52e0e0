using Iced.Intel;

namespace Sharpvisor.Engines.Emulator.Decoding;

/// <summary>
/// A run of decoded instructions starting at one guest-physical address, ending at a control transfer, a page end or
/// a length limit; each instruction has its handler resolved once, here, instead of on every execution.
/// </summary>
public sealed class DecodedBlock
{
    private volatile bool _valid = true;

    public DecodedBlock(ulong physicalAddress, int bitness, ulong startIp, Instruction[] instructions, nint[] handlers, int count, ulong lastPhysicalPage)
    {
        // Guaranteed here so the interpreter may index both arrays below Count without bounds checks.
        ArgumentOutOfRangeException.ThrowIfNegative(count);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(count, Math.Min(instructions.Length, handlers.Length));
        PhysicalAddress = physicalAddress;
        Bitness = bitness;
        StartIp = startIp;
        Instructions = instructions;
        Handlers = handlers;
        Count = count;
        LastPhysicalPage = lastPhysicalPage;
    }

    public ulong PhysicalAddress { get; }
    public int Bitness { get; }
    /// <summary>The RIP (the offset in CS outside 64-bit mode) the block was decoded at: its instructions' IPs follow from it.</summary>
    public ulong StartIp { get; }
    public Instruction[] Instructions { get; }
    /// <summary>The handlers, as function pointers (delegate* managed&lt;CpuCore, ref Instruction, void&gt;).</summary>
    public nint[] Handlers { get; }
    /// <summary>How many instructions the block holds: at most the length of <see cref="Instructions"/> and of <see cref="Handlers"/>.</summary>
    public int Count { get; }
    public ulong FirstPhysicalPage => PhysicalAddress >> 12;
    /// <summary>An instruction may cross into the next page; the block then depends on both.</summary>
    public ulong LastPhysicalPage { get; }

    /// <summary>The block that ran after this one last time, and the translation epoch and CPL it was found under (see <see cref="BlockCache.Next"/>).</summary>
    internal DecodedBlock? Successor;
    internal long SuccessorEpoch;
    internal int SuccessorCpl;

    /// <summary>
    /// Cleared when a store lands on one of the block's pages, possibly by another vCPU's thread; the interpreter
    /// then leaves the block after the current instruction. Volatile so a clear on one thread is seen at once on the
    /// thread running the block.
    /// </summary>
    public bool Valid
    {
        get => _valid;
        set => _valid = value;
    }
}
