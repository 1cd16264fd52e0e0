using System.Globalization;

namespace Sharpvisor.Host.Resources;

/// <summary>
/// The kernel's KSM, run for the daemon's VMs that ask for it, as ksmtuned runs it for libvirt's: switched on when the
/// first such VM runs, its scan rate raised while merging pays (pages_sharing grew since the last step) and lowered
/// while it does not, and put back as it was found when no VM asks any more. What it found is kept in a file beside
/// the store, so a daemon killed in between still puts it back next time.
/// </summary>
public sealed class KsmTuner
{
    /// <summary>ksmtuned's figures: start at 64 pages a scan, +300 while merging pays, -50 when not, within 64..1250.</summary>
    public const int MinPagesToScan = 64, MaxPagesToScan = 1250, Boost = 300, Decay = 50;
    private const int SleepMilliseconds = 20;
    private readonly string _sysfs, _savedFile;
    private long _lastSharing = -1;

    /// <param name="sysfs">/sys/kernel/mm/ksm on a host.</param>
    /// <param name="savedFile">Where the settings found at the first switch-on are kept until they are put back.</param>
    public KsmTuner(string sysfs, string savedFile)
    {
        _sysfs = sysfs;
        _savedFile = savedFile;
    }

    public static bool Available(string sysfs) => File.Exists(Path.Combine(sysfs, "run"));

    /// <summary>True while the tuner has KSM in its hands (it switched it on and has not put it back).</summary>
    public bool Engaged => File.Exists(_savedFile);

    public int PagesToScan => (int)Read("pages_to_scan");

    /// <summary>One step: <paramref name="wanted"/> says whether any running VM asks for KSM. Returns what it did, for the log.</summary>
    public string? Step(bool wanted)
    {
        if (!wanted) return Engaged ? Release() : null;
        if (!Engaged)
        {
            var found = new[] { "run", "pages_to_scan", "sleep_millisecs" }.Select(k => $"{k}={Read(k)}");
            string temporary = _savedFile + ".tmp";
            File.WriteAllLines(temporary, found);
            File.Move(temporary, _savedFile, overwrite: true);
            Write("pages_to_scan", MinPagesToScan);
            Write("sleep_millisecs", SleepMilliseconds);
            Write("run", 1);
            _lastSharing = Read("pages_sharing");
            return $"KSM on ({string.Join(", ", found)} before)";
        }
        long sharing = Read("pages_sharing");
        int now = PagesToScan;
        int next = _lastSharing >= 0 && sharing > _lastSharing ? Math.Min(MaxPagesToScan, now + Boost) : Math.Max(MinPagesToScan, now - Decay);
        _lastSharing = sharing;
        if (next == now) return null;
        Write("pages_to_scan", next);
        return $"KSM scans {next} pages at a time ({sharing} pages sharing)";
    }

    /// <summary>Puts back the settings found at the first switch-on (run last, so the scanner stops with its old rate set).</summary>
    public string Release()
    {
        var saved = File.ReadAllLines(_savedFile).Select(l => l.Split('=', 2)).Where(p => p.Length == 2)
            .ToDictionary(p => p[0], p => long.Parse(p[1], CultureInfo.InvariantCulture));
        foreach (string key in new[] { "pages_to_scan", "sleep_millisecs", "run" })
            if (saved.TryGetValue(key, out long value)) Write(key, value);
        File.Delete(_savedFile);
        _lastSharing = -1;
        return $"KSM put back as it was found ({string.Join(", ", saved.Select(p => $"{p.Key}={p.Value}"))})";
    }

    private long Read(string key) => long.Parse(File.ReadAllText(Path.Combine(_sysfs, key)).Trim(), CultureInfo.InvariantCulture);

    private void Write(string key, long value) => File.WriteAllText(Path.Combine(_sysfs, key), value.ToString(CultureInfo.InvariantCulture));
}
