using System.Buffers.Binary;
using Sharpvisor.Engines.Emulator.Apic;
using Sharpvisor.Engines.Emulator.Execution;
using Sharpvisor.Engines.Emulator.Memory;
using Sharpvisor.Machine.Buses;
using Sharpvisor.Machine.Memory;
using R = Sharpvisor.Engines.Emulator.Apic.LocalApicRegister;

namespace Sharpvisor.Engines.Emulator.Tests.Apic;

/// <summary>
/// An APIC bus with <c>n</c> local APICs (IDs 0..n-1, APIC 0 the BSP), each on its own core, and a fake TSC that runs
/// at 2 GHz against the 1 GHz APIC bus: one timer count at divide-by-1 is 2 TSC ticks.
/// </summary>
internal sealed class ApicTestMachine : IDisposable
{
    public const ulong TscHz = 2_000_000_000;
    private readonly GuestMemory _ram = GuestMemory.CreateX86(16 << 20);

    public ulong Tsc;
    public ApicBus Bus { get; }
    public ApicClock Clock { get; }
    public LocalApic[] Apics { get; }
    public CpuCore[] Cpus { get; }

    public ApicTestMachine(int count = 2, ApicBus? bus = null, Func<ulong>? tsc = null, ulong tscHz = TscHz)
    {
        Bus = bus ?? new ApicBus();
        Clock = new ApicClock(tsc ?? (() => Tsc), tscHz);
        var memory = new EmulatedMemory(_ram, new MmioBus(), IdentityTranslator.Instance);
        Cpus = new CpuCore[count];
        Apics = new LocalApic[count];
        for (int i = 0; i < count; i++)
        {
            Cpus[i] = new CpuCore(memory);
            Apics[i] = new LocalApic(Bus, Cpus[i], (uint)i, bootstrap: i == 0, Clock);
        }
    }

    public LocalApic this[int i] => Apics[i];

    public static uint Read(LocalApic apic, int register)
    {
        Span<byte> b = stackalloc byte[4];
        apic.Read((ulong)register, b);
        return BinaryPrimitives.ReadUInt32LittleEndian(b);
    }

    public static void Write(LocalApic apic, int register, uint value)
    {
        Span<byte> b = stackalloc byte[4];
        BinaryPrimitives.WriteUInt32LittleEndian(b, value);
        apic.Write((ulong)register, b);
    }

    /// <summary>Software-enables every APIC with spurious vector 0xFF.</summary>
    public ApicTestMachine Enabled()
    {
        foreach (var apic in Apics) Write(apic, R.SpuriousVector, LocalApic.SvrSoftwareEnable | 0xFF);
        return this;
    }

    public static void SendIpi(LocalApic from, uint destination, uint icrLow)
    {
        Write(from, R.InterruptCommandHigh, destination << 24);
        Write(from, R.InterruptCommandLow, icrLow);
    }

    public static bool IrrHas(LocalApic apic, int vector) =>
        (Read(apic, R.InterruptRequest + (vector >> 5) * 0x10) & (1u << (vector & 31))) != 0;

    public static bool IsrHas(LocalApic apic, int vector) =>
        (Read(apic, R.InService + (vector >> 5) * 0x10) & (1u << (vector & 31))) != 0;

    public static bool TmrHas(LocalApic apic, int vector) =>
        (Read(apic, R.TriggerMode + (vector >> 5) * 0x10) & (1u << (vector & 31))) != 0;

    /// <summary>Acknowledges everything deliverable, EOI after each, and returns the vectors in order.</summary>
    public static List<byte> DrainWithEoi(LocalApic apic)
    {
        var taken = new List<byte>();
        while (apic.TryAcknowledge(out byte v))
        {
            taken.Add(v);
            Write(apic, R.EndOfInterrupt, 0);
        }
        return taken;
    }

    public void Dispose() => _ram.Dispose();
}
