using System.Globalization;

namespace Sharpvisor.Host.Instances;

/// <summary>A list of host CPUs as taskset and cpuset write it: "0-3,6" (ranges and single CPUs, comma separated).</summary>
public static class CpuList
{
    /// <summary>The CPUs named, in order, each once; a <see cref="FormatException"/> says what is wrong.</summary>
    public static IReadOnlyList<int> Parse(string text, int hostCpus)
    {
        var cpus = new SortedSet<int>();
        foreach (string part in text.Split(','))
        {
            string[] ends = part.Trim().Split('-');
            if (ends.Length is < 1 or > 2 || !ends.All(e => int.TryParse(e, NumberStyles.None, CultureInfo.InvariantCulture, out _)))
                throw new FormatException($"'{part}' in CPU list '{text}' is not a CPU number or a range like 0-3");
            int first = int.Parse(ends[0], CultureInfo.InvariantCulture), last = int.Parse(ends[^1], CultureInfo.InvariantCulture);
            if (last < first) throw new FormatException($"range '{part}' in CPU list '{text}' runs backwards");
            if (last >= hostCpus) throw new FormatException($"CPU {last} in '{text}' is not on this host, which has CPUs 0-{hostCpus - 1}");
            for (int cpu = first; cpu <= last; cpu++) cpus.Add(cpu);
        }
        return cpus.ToArray();
    }
}
