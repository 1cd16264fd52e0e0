using System.Numerics;

namespace Sharpvisor.Machine.Cpu;

/// <summary>
/// sockets x cores x threads. APIC IDs are packed the way x86 firmware does it: the thread number in the low bits,
/// then the core, then the socket, each field as wide as the next power of two needs.
/// </summary>
public sealed record CpuTopology(int Sockets, int Cores, int Threads)
{
    public const int MaxVcpus = 254;

    public int VcpuCount => Sockets * Cores * Threads;
    public int ThreadBits => BitsFor(Threads);
    public int CoreBits => BitsFor(Cores);
    public int ThreadsPerSocket => Cores * Threads;

    public static CpuTopology Flat(int vcpus) => new(1, vcpus, 1);

    /// <summary>Parses "sockets=1,cores=2,threads=1" (any order; missing parts are 1).</summary>
    public static CpuTopology Parse(string text)
    {
        int sockets = 1, cores = 1, threads = 1;
        foreach (var part in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var kv = part.Split('=', 2);
            if (kv.Length != 2 || !int.TryParse(kv[1], out int n) || n < 1)
                throw new FormatException($"bad topology part '{part}': expected sockets=N, cores=N or threads=N with N >= 1");
            switch (kv[0])
            {
                case "sockets": sockets = n; break;
                case "cores": cores = n; break;
                case "threads": threads = n; break;
                default: throw new FormatException($"unknown topology part '{kv[0]}': expected sockets, cores or threads");
            }
        }
        return new CpuTopology(sockets, cores, threads).Validated();
    }

    public CpuTopology Validated()
    {
        if (Sockets < 1 || Cores < 1 || Threads < 1)
            throw new FormatException("sockets, cores and threads must each be at least 1");
        if (VcpuCount > MaxVcpus)
            throw new FormatException($"{VcpuCount} vCPUs is more than the {MaxVcpus} this machine model supports");
        return this;
    }

    public (int Socket, int Core, int Thread) Locate(int vcpuIndex)
    {
        if ((uint)vcpuIndex >= (uint)VcpuCount) throw new ArgumentOutOfRangeException(nameof(vcpuIndex));
        return (vcpuIndex / ThreadsPerSocket, vcpuIndex / Threads % Cores, vcpuIndex % Threads);
    }

    public uint ApicId(int vcpuIndex)
    {
        var (socket, core, thread) = Locate(vcpuIndex);
        return (uint)((socket << (CoreBits + ThreadBits)) | (core << ThreadBits) | thread);
    }

    public IReadOnlyList<uint> ApicIds() => Enumerable.Range(0, VcpuCount).Select(ApicId).ToArray();

    public override string ToString() => $"sockets={Sockets},cores={Cores},threads={Threads}";

    private static int BitsFor(int count) => count <= 1 ? 0 : BitOperations.Log2((uint)count - 1) + 1;
}
