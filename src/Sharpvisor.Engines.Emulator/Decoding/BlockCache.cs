using Iced.Intel;
using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Engines.Emulator.Instructions;
using Sharpvisor.Engines.Emulator.Memory;

namespace Sharpvisor.Engines.Emulator.Decoding;

/// <summary>
/// Decoded blocks keyed by guest-physical address and code size, so a block is decoded once however often it runs,
/// and dropped when a store lands on its page (see <see cref="CodePageTracker"/>).
/// </summary>
public sealed unsafe class BlockCache
{
    public const int MaxInstructionsPerBlock = 64;
    private const int MaxInstructionLength = 15;

    private readonly Dictionary<(ulong Physical, int Bitness), DecodedBlock> _blocks = [];
    private readonly Dictionary<ulong, List<DecodedBlock>> _blocksByPage = [];
    private readonly InstructionTable _table;
    private readonly EmulatedMemory _memory;
    private readonly byte[] _window = new byte[4096 + MaxInstructionLength];

    public long BlocksDecoded { get; private set; }
    public long Invalidations { get; private set; }

    public BlockCache(EmulatedMemory memory, InstructionTable table)
    {
        _memory = memory;
        _table = table;
        memory.CodePages.CodePageWritten += InvalidatePage;
    }

    public DecodedBlock Get(CpuCore cpu)
    {
        ulong physical = _memory.Translator.Translate(cpu.Rip, AccessKind.Execute);
        if (_blocks.TryGetValue((physical, cpu.Bitness), out var block)) return block;
        block = Decode(cpu.Rip, physical, cpu.Bitness);
        _blocks[(physical, cpu.Bitness)] = block;
        for (ulong page = block.FirstPhysicalPage; page <= block.LastPhysicalPage; page++)
        {
            if (!_blocksByPage.TryGetValue(page, out var list)) _blocksByPage[page] = list = [];
            list.Add(block);
            _memory.CodePages.MarkCode(page);
        }
        BlocksDecoded++;
        return block;
    }

    private DecodedBlock Decode(ulong rip, ulong physical, int bitness)
    {
        // The bytes from RIP to the end of its page, and, only if an instruction needs them, up to 15 from the next.
        int inPage = (int)(0x1000 - (rip & 0xFFF));
        _memory.ReadBytes(rip, _window.AsSpan(0, inPage), AccessKind.Execute);
        int available = inPage;
        var decoder = Decoder.Create(bitness, new ByteArrayCodeReader(_window, 0, available), rip);
        var instructions = new Instruction[MaxInstructionsPerBlock];
        var handlers = new nint[MaxInstructionsPerBlock];
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
                int tail = Math.Min(MaxInstructionLength, _window.Length - inPage);
                _memory.ReadBytes(rip + (ulong)inPage, _window.AsSpan(inPage, tail), AccessKind.Execute);
                available = inPage + tail;
                lastPage = _memory.Translator.Translate(rip + (ulong)inPage, AccessKind.Execute) >> 12;
                decoder = Decoder.Create(bitness, new ByteArrayCodeReader(_window, (int)offset, available - (int)offset), rip + offset);
                decoder.Decode(out instruction);
            }
            instructions[count] = instruction;
            handlers[count] = Resolve(instruction);
            count++;
            if (instruction.IsInvalid || instruction.FlowControl != FlowControl.Next || _table[instruction.Code] == null) break;
            if (StringInstructions.IsRepeated(instruction)) break; // it may set RIP back to itself to resume later
            if (instruction.NextIP - rip > (ulong)inPage) break; // ended in the next page
        }
        return new DecodedBlock(physical, bitness, instructions, handlers, count, lastPage);
    }

    private nint Resolve(in Instruction instruction)
    {
        if (instruction.IsInvalid) return (nint)(delegate*<CpuCore, ref Instruction, void>)&RaiseInvalidOpcode;
        var handler = _table[instruction.Code];
        return handler != null ? (nint)handler : (nint)(delegate*<CpuCore, ref Instruction, void>)&ReportUnimplemented;
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

    public void InvalidatePage(ulong page)
    {
        if (!_blocksByPage.Remove(page, out var list)) return;
        foreach (var block in list)
        {
            block.Valid = false;
            _blocks.Remove((block.PhysicalAddress, block.Bitness));
            Invalidations++;
        }
    }

    public void Clear()
    {
        foreach (var page in _blocksByPage.Keys.ToArray()) InvalidatePage(page);
    }
}
