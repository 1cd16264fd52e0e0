using System.Text;
using Iced.Intel;
using Sharpvisor.Machine.Cpu;

namespace Sharpvisor.Engines;

/// <summary>
/// The text a user sees when a vCPU cannot go on: what happened, the registers, and the instruction at RIP (bytes and
/// mnemonic), so a failure can be understood without a debugger.
/// </summary>
public static class FaultReport
{
    public static string Build(string headline, CpuState? state, ReadOnlySpan<byte> instructionBytes, ulong? ripPhysical = null)
    {
        var sb = new StringBuilder();
        sb.AppendLine(headline);
        if (state is null) return sb.ToString();
        var r = state.Registers;
        int bitness = Bitness(state);
        sb.AppendLine($"  RIP {r.Rip:x16}{(ripPhysical is { } p ? $" (physical {p:x})" : "")}  RFLAGS {r.Rflags:x8}  mode {bitness}-bit, CPL {state.Cs.Dpl}");
        sb.AppendLine($"  RAX {r.Rax:x16} RBX {r.Rbx:x16} RCX {r.Rcx:x16} RDX {r.Rdx:x16}");
        sb.AppendLine($"  RSI {r.Rsi:x16} RDI {r.Rdi:x16} RSP {r.Rsp:x16} RBP {r.Rbp:x16}");
        sb.AppendLine($"  R8  {r.R8:x16} R9  {r.R9:x16} R10 {r.R10:x16} R11 {r.R11:x16}");
        sb.AppendLine($"  R12 {r.R12:x16} R13 {r.R13:x16} R14 {r.R14:x16} R15 {r.R15:x16}");
        sb.AppendLine($"  CR0 {state.Cr0:x} CR2 {state.Cr2:x} CR3 {state.Cr3:x} CR4 {state.Cr4:x} EFER {state.Efer:x}");
        sb.AppendLine($"  CS {state.Cs.Selector:x4} SS {state.Ss.Selector:x4} GDT {state.Gdt.Base:x}/{state.Gdt.Limit:x} IDT {state.Idt.Base:x}/{state.Idt.Limit:x}");
        if (instructionBytes.IsEmpty)
            sb.AppendLine("  instruction: (RIP is not in guest RAM)");
        else
            sb.AppendLine($"  instruction: {Convert.ToHexString(instructionBytes).ToLowerInvariant()}  {Disassemble(instructionBytes, r.Rip, bitness)}");
        return sb.ToString();
    }

    public static int Bitness(CpuState state) =>
        (state.Cr0 & CpuState.Cr0ProtectionEnable) == 0 ? 16 : state.Cs.Long && (state.Efer & CpuState.EferLongModeActive) != 0 ? 64 : state.Cs.DefaultBig ? 32 : 16;

    /// <summary>The first instruction in <paramref name="bytes"/>, e.g. "lock cmpxchg16b [rdi]".</summary>
    public static string Disassemble(ReadOnlySpan<byte> bytes, ulong rip, int bitness)
    {
        var decoder = Iced.Intel.Decoder.Create(bitness, new ByteArrayCodeReader(bytes.ToArray()));
        decoder.IP = rip;
        decoder.Decode(out var instruction);
        if (instruction.IsInvalid) return "(invalid instruction)";
        var output = new StringOutput();
        new NasmFormatter().Format(instruction, output);
        return output.ToStringAndReset();
    }
}
