using System.Text;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Machine.Boot;

/// <summary>Placement and writing chores both boot protocols share: command line, initrd, zero-filling.</summary>
internal static class BootPlacement
{
    public const ulong PageSize = 4096;
    private static readonly byte[] Zeros = new byte[64 * 1024];

    /// <summary>
    /// Writes the NUL-terminated command line at <see cref="X86MemoryLayout.CommandLineAddress"/>;
    /// <paramref name="maxLength"/> excludes the terminator.
    /// </summary>
    public static ulong WriteCommandLine(GuestMemory memory, string commandLine, ulong maxLength)
    {
        if (commandLine.Contains('\0'))
            throw new KernelImageException("the kernel command line contains a NUL character");
        byte[] bytes = Encoding.UTF8.GetBytes(commandLine);
        ulong limit = Math.Min(maxLength, (ulong)X86MemoryLayout.CommandLineMax - 1);
        if ((ulong)bytes.Length > limit)
            throw new KernelImageException(
                $"the kernel command line is {bytes.Length} bytes long; this kernel accepts at most {limit}");
        memory.Write(X86MemoryLayout.CommandLineAddress, [.. bytes, 0]);
        return X86MemoryLayout.CommandLineAddress;
    }

    /// <summary>
    /// The highest page-aligned address where <paramref name="size"/> bytes fit in usable RAM at or above 1 MiB,
    /// ending at or below <paramref name="limitEnd"/>, and clear of <paramref name="kernelStart"/>..<paramref name="kernelEnd"/>.
    /// Loaders conventionally put the initrd as high as the kernel allows, away from where it decompresses.
    /// </summary>
    public static ulong PlaceInitrd(E820Map map, ulong size, ulong limitEnd, ulong kernelStart, ulong kernelEnd)
    {
        var free = new List<(ulong Start, ulong End)>();
        foreach (var e in map.Entries)
        {
            if (e.Type != E820Type.Ram) continue;
            ulong start = Math.Max(e.Address, X86MemoryLayout.KernelLoadAddress), end = Math.Min(e.End, limitEnd);
            if (end <= start) continue;
            // Cut the kernel's range out of this piece of RAM.
            if (kernelEnd <= start || kernelStart >= end) free.Add((start, end));
            else
            {
                if (kernelStart > start) free.Add((start, kernelStart));
                if (kernelEnd < end) free.Add((kernelEnd, end));
            }
        }
        foreach (var (start, end) in free.OrderByDescending(f => f.End))
        {
            if (end - start < size) continue;
            ulong address = (end - size) & ~(PageSize - 1);
            if (address >= start) return address;
        }
        throw new KernelImageException(
            $"the initrd ({size} bytes) does not fit in guest RAM between 1 MiB and 0x{limitEnd:x} " +
            $"outside the kernel's 0x{kernelStart:x}-0x{kernelEnd:x}; give the guest more memory");
    }

    public static void Zero(GuestMemory memory, ulong address, ulong length)
    {
        while (length > 0)
        {
            int chunk = (int)Math.Min(length, (ulong)Zeros.Length);
            memory.Write(address, Zeros.AsSpan(0, chunk));
            address += (ulong)chunk;
            length -= (ulong)chunk;
        }
    }

    public static ulong AlignUp(ulong value, ulong alignment) => (value + alignment - 1) / alignment * alignment;
}
