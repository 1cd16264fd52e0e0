using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.Bench.CpuLoop;

/// <summary>
/// The workload: a function `ulong hash(ulong iterations /* rdi */, ulong* buffer /* rsi */)` that runs xorshift64 and
/// folds each state into a 4 KiB table it also reads back: registers, memory loads and stores, a branch per round.
/// The same bytes run natively and in the emulator.
/// </summary>
internal static class HashLoop
{
    public const int InstructionsPerIteration = 15;

    public static byte[] Assemble(ulong address)
    {
        var a = new Assembler(64);
        var loop = a.CreateLabel();
        a.mov(rax, 0x9E37_79B9_7F4A_7C15);
        a.xor(edx, edx);
        a.Label(ref loop);
        a.mov(rcx, rax);          // xorshift64: x ^= x << 13; x ^= x >> 7; x ^= x << 17
        a.shl(rcx, 13);
        a.xor(rax, rcx);
        a.mov(rcx, rax);
        a.shr(rcx, 7);
        a.xor(rax, rcx);
        a.mov(rcx, rax);
        a.shl(rcx, 17);
        a.xor(rax, rcx);
        a.mov(ecx, eax);          // table[x & 511] += x, and sum the old entries
        a.and(ecx, 511);
        a.add(rdx, __qword_ptr[rsi + rcx * 8]);
        a.add(__qword_ptr[rsi + rcx * 8], rax);
        a.dec(rdi);
        a.jnz(loop);
        a.lea(rax, __[rax + rdx]);
        a.ret();
        var stream = new MemoryStream();
        a.Assemble(new StreamCodeWriter(stream), address);
        return stream.ToArray();
    }
}
