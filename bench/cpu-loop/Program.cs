using System.CommandLine;
using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text.Json;
using Sharpvisor.Bench.CpuLoop;
using Sharpvisor.Engines.Emulator.Decoding;
using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Engines.Emulator.Instructions;
using Sharpvisor.Engines.Emulator.Memory;
using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Memory;
using Sharpvisor.Machine.Native;

// The emulator's interpreter against the host CPU on the same code (bench/cpu-loop/HashLoop.cs); rounds alternate,
// medians reported. Million instructions per second = (iterations x instructions per iteration) / time.
// --against-qemu: the whole-VM comparison instead (GuestLoopAgainstQemu): the ring3-compute guest on both VMMs.
var againstQemuOption = new Option<bool>("--against-qemu") { Description = "Compare whole VMs instead: the ring3-compute guest on Sharpvisor and QEMU TCG." };
var shortStepsOption = new Option<ulong>("--short-steps") { Description = "With --against-qemu: the guest's short run, in steps.", DefaultValueFactory = _ => 1_000_000 };
var longStepsOption = new Option<ulong>("--long-steps") { Description = "With --against-qemu: the guest's long run, in steps.", DefaultValueFactory = _ => 100_000_000 };
var iterationsOption = new Option<long>("--iterations") { Description = "Iterations of the hash loop per round.", DefaultValueFactory = _ => 20_000_000 };
var roundsOption = new Option<int?>("--rounds") { Description = "Rounds (default 5, or 3 with --against-qemu)." };
var handlersOption = new Option<string?>("--handlers")
{
    Description = "noop: every handler but the loop's own control does nothing, to measure the interpreter's dispatch ceiling.",
};
var command = new RootCommand("The emulator's interpreter against the host CPU on the same code, in MIPS.")
{
    againstQemuOption, shortStepsOption, longStepsOption, iterationsOption, roundsOption, handlersOption,
};
var parsed = command.Parse(args);
if (parsed.Action is not null) return parsed.Invoke(); // --help, or bad arguments (reported)
if (parsed.GetValue(againstQemuOption))
{
    string root = Path.GetFullPath(Path.Combine(AppContext.BaseDirectory, "..", ".."));
    ulong shortSteps = parsed.GetValue(shortStepsOption), longSteps = parsed.GetValue(longStepsOption);
    int guestRounds = parsed.GetValue(roundsOption) ?? 3;
    var (sharpvisorMips, qemuMips) = GuestLoopAgainstQemu.Run(root, shortSteps, longSteps, guestRounds);
    Console.WriteLine($"{"vmm",-28} {"MIPS",8}");
    Console.WriteLine($"{"sharpvisor --engine emulator",-28} {sharpvisorMips,8:0.0}");
    Console.WriteLine($"{"qemu-system-x86_64 -accel tcg",-28} {qemuMips,8:0.0}");
    Console.WriteLine($"sharpvisor / qemu = {sharpvisorMips / qemuMips:0.000}");
    Console.WriteLine(JsonSerializer.Serialize(new
    {
        bench = "cpu-loop (ring3-compute guest, against QEMU TCG)", date = DateTime.UtcNow.ToString("yyyy-MM-dd"), short_steps = shortSteps,
        long_steps = longSteps, rounds = guestRounds, sharpvisor_mips = Math.Round(sharpvisorMips, 1), qemu_tcg_mips = Math.Round(qemuMips, 1),
        ratio = Math.Round(sharpvisorMips / qemuMips, 4),
    }));
    return 0;
}
long iterations = parsed.GetValue(iterationsOption);
int rounds = parsed.GetValue(roundsOption) ?? 5;
// --handlers noop: every handler but the loop's own control (DEC, JNZ, RET, UD2) does nothing, which measures the
// interpreter's dispatch ceiling (the function's result is then meaningless and not compared).
bool noopHandlers = parsed.GetValue(handlersOption) == "noop";
var table = noopHandlers ? DispatchCeiling.Table() : InstructionTable.Default;
long instructions = iterations * HashLoop.InstructionsPerIteration + 4;

const ulong CodeAddress = 0x10000, TableAddress = 0x20000, StackTop = 0x80000, ReturnAddress = 0xF000;
var native = new List<double>();
var emulated = new List<double>();
var emulatedCpu = new List<double>(); // the emulating thread's own CPU time: steadier than wall time on a shared host
ulong nativeResult = 0, emulatedResult = 0;
for (int round = 0; round < rounds; round++)
{
    // Native: the code in an executable page of our own, called through a function pointer.
    unsafe
    {
        nint page = Libc.mmap(0, 0x3000, Libc.ProtRead | Libc.ProtWrite, Libc.MapPrivate | Libc.MapAnonymous, -1, 0);
        byte[] code = HashLoop.Assemble((ulong)page);
        Marshal.Copy(code, 0, page, code.Length);
        Libc.mprotect(page, 0x1000, Libc.ProtRead | Libc.ProtExec);
        var function = (delegate* unmanaged<long, nint, ulong>)page;
        var clock = Stopwatch.StartNew();
        nativeResult = function(iterations, page + 0x1000);
        native.Add(clock.Elapsed.TotalSeconds);
        Libc.munmap(page, 0x3000);
    }

    // Emulated: the same function at 0x10000, returning to a sentinel address.
    using var ram = GuestMemory.CreateX86(16 << 20);
    ram.Write(CodeAddress, HashLoop.Assemble(CodeAddress));
    var memory = new EmulatedMemory(ram, new MmioBus(), IdentityTranslator.Instance);
    var cpu = new CpuCore(memory) { Rip = CodeAddress };
    cpu.Gpr[CpuCore.Rsp] = StackTop - 8;
    ram.WriteUInt64(StackTop - 8, ReturnAddress);
    ram.Write(ReturnAddress, [0x0F, 0x0B]); // ud2 where the function returns to: the run stops there

    cpu.Gpr[CpuCore.Rdi] = (ulong)iterations;
    cpu.Gpr[CpuCore.Rsi] = TableAddress;
    var interpreter = new Interpreter(cpu, new BlockCache(memory, table));
    var watch = Stopwatch.StartNew();
    double cpuStart = Libc.ThreadCpuTimeNanoseconds() / 1e9;
    while (interpreter.Run(1_000_000) != StopReason.Fault) { }
    if (cpu.Rip != ReturnAddress) throw new InvalidOperationException($"the emulated function faulted at 0x{cpu.Rip:x}: {interpreter.LastFault?.Message}");
    emulated.Add(watch.Elapsed.TotalSeconds);
    emulatedCpu.Add(Libc.ThreadCpuTimeNanoseconds() / 1e9 - cpuStart);
    emulatedResult = cpu.Gpr[CpuCore.Rax];
    if (cpu.InstructionsRetired != instructions)
        throw new InvalidOperationException($"emulator retired {cpu.InstructionsRetired} instructions, expected {instructions}");
    Console.Error.WriteLine($"round {round + 1}: native {instructions / native[^1] / 1e6,8:0} MIPS   emulator {instructions / emulated[^1] / 1e6,6:0.0} MIPS ({instructions / emulatedCpu[^1] / 1e6:0.0} per CPU-second)");
}
if (nativeResult != emulatedResult && !noopHandlers) throw new InvalidOperationException($"results differ: native {nativeResult:x}, emulator {emulatedResult:x}");

double nativeMips = instructions / Median(native) / 1e6, emulatorMips = instructions / Median(emulated) / 1e6;
double emulatorCpuMips = instructions / Median(emulatedCpu) / 1e6;
Console.WriteLine($"{"engine",-12} {"MIPS",10}");
Console.WriteLine($"{"native",-12} {nativeMips,10:0}");
Console.WriteLine($"{"emulator",-12} {emulatorMips,10:0.0}   ({emulatorCpuMips:0.0} per second of the thread's CPU time)");
Console.WriteLine($"emulator / native = {emulatorMips / nativeMips:0.0000} (result {emulatedResult:x16} identical)");
Console.WriteLine(JsonSerializer.Serialize(new
{
    bench = noopHandlers ? "cpu-loop (no-op handlers)" : "cpu-loop", date = DateTime.UtcNow.ToString("yyyy-MM-dd"), iterations, instructions, rounds,
    native_mips = Math.Round(nativeMips), emulator_mips = Math.Round(emulatorMips, 1), emulator_cpu_time_mips = Math.Round(emulatorCpuMips, 1), ratio = Math.Round(emulatorMips / nativeMips, 5),
}));
return 0;

static double Median(List<double> values)
{
    var sorted = values.Order().ToArray();
    return sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[sorted.Length / 2 - 1] + sorted[sorted.Length / 2]) / 2;
}
