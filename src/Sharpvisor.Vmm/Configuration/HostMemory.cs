namespace Sharpvisor.Vmm.Configuration;

/// <summary>The host's physical memory, from /proc/meminfo.</summary>
public static class HostMemory
{
    public static ulong TotalBytes()
    {
        try
        {
            foreach (var line in File.ReadLines("/proc/meminfo"))
                if (line.StartsWith("MemTotal:"))
                    return ulong.Parse(line.Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]) * 1024;
        }
        catch (IOException) { }
        return 0;
    }
}
