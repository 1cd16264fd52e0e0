using System.Globalization;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Vmm.Configuration;

/// <summary>
/// `--numa nodeN:cpus=LIST,mem=SIZE`, one per guest NUMA node in order (node0, node1, ...): LIST as "0-1" or "0-1,4"
/// (a bare number after cpus= continues its list, as QEMU's repeated cpus= does), SIZE as --memory takes it.
/// </summary>
public static class NumaSpec
{
    public static IReadOnlyList<NumaNode> Parse(IReadOnlyList<string> specs)
    {
        var nodes = new List<NumaNode>();
        foreach (string spec in specs)
        {
            int colon = spec.IndexOf(':');
            string expected = $"node{nodes.Count}";
            if (colon < 0 || spec[..colon] != expected)
                throw new FormatException($"--numa '{spec}': expected {expected}:cpus=LIST,mem=SIZE (nodes are given in order from node0)");
            var cpus = new List<int>();
            ulong? memory = null;
            string? key = null;
            foreach (string token in spec[(colon + 1)..].Split(','))
            {
                string value = token;
                int equals = token.IndexOf('=');
                if (equals >= 0) (key, value) = (token[..equals], token[(equals + 1)..]);
                else if (key != "cpus") throw new FormatException($"--numa '{spec}': '{token}' is not key=value");
                switch (key)
                {
                    case "cpus": cpus.AddRange(CpuRange(spec, value)); break;
                    case "mem": memory = MemorySize.Parse(value); break;
                    default: throw new FormatException($"--numa '{spec}': unknown key '{key}' (cpus, mem)");
                }
            }
            if (cpus.Count == 0) throw new FormatException($"--numa '{spec}': no cpus=");
            if (memory is null) throw new FormatException($"--numa '{spec}': no mem=");
            nodes.Add(new NumaNode(cpus, memory.Value));
        }
        return nodes;
    }

    private static IEnumerable<int> CpuRange(string spec, string text)
    {
        string[] ends = text.Split('-');
        if (ends.Length is 1 or 2 && ends.All(e => int.TryParse(e, NumberStyles.None, CultureInfo.InvariantCulture, out _)))
        {
            int first = int.Parse(ends[0], CultureInfo.InvariantCulture), last = int.Parse(ends[^1], CultureInfo.InvariantCulture);
            if (last >= first) return Enumerable.Range(first, last - first + 1);
        }
        throw new FormatException($"--numa '{spec}': '{text}' is not a vCPU or a range like 0-3");
    }
}
