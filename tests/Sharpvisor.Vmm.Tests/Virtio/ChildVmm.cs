using System.Diagnostics;
using System.Text;

namespace Sharpvisor.Vmm.Tests.Virtio;

/// <summary>
/// `sharpvisor run` as a separate process (the published CLI that ./sharpvisor builds), optionally under strace, with
/// its serial console on piped stdin/stdout, so a test can type into the guest, wait for text, and SIGKILL the VMM.
/// </summary>
internal sealed class ChildVmm : IDisposable
{
    private readonly Process _process;
    private readonly StringBuilder _output = new(), _errors = new();
    private readonly object _lock = new();
    private readonly bool _traced;

    /// <summary>The repository's root (where ./sharpvisor is), found upwards from the test binaries.</summary>
    public static string RepositoryRoot
    {
        get
        {
            for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
                if (File.Exists(Path.Combine(dir.FullName, "sharpvisor")) && File.Exists(Path.Combine(dir.FullName, "Sharpvisor.slnx")))
                    return dir.FullName;
            throw new InvalidOperationException($"no ./sharpvisor above {AppContext.BaseDirectory}");
        }
    }

    /// <summary>Builds the CLI if its sources changed (./sharpvisor does that on first use) and returns sharpvisor.dll.</summary>
    public static string EnsureCli()
    {
        string root = RepositoryRoot;
        var info = new ProcessStartInfo(Path.Combine(root, "sharpvisor"), "--help") { RedirectStandardOutput = true, RedirectStandardError = true };
        using var build = Process.Start(info)!;
        string text = build.StandardOutput.ReadToEnd() + build.StandardError.ReadToEnd();
        build.WaitForExit();
        if (build.ExitCode != 0) throw new InvalidOperationException($"./sharpvisor --help exited with {build.ExitCode}: {text}");
        return Path.Combine(root, ".build", "cli", "sharpvisor.dll");
    }

    /// <param name="strace">If set, the VMM runs under strace tracing these system calls into this file.</param>
    public ChildVmm(string cli, IEnumerable<string> arguments, (string Calls, string File)? strace = null)
    {
        var info = new ProcessStartInfo(strace is null ? "dotnet" : "strace")
        {
            RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false,
        };
        if (strace is { } s)
            foreach (string a in new[] { "-f", "--seccomp-bpf", "-tt", "-e", $"trace={s.Calls}", "-o", s.File, "dotnet" }) info.ArgumentList.Add(a);
        info.ArgumentList.Add(cli);
        foreach (string a in arguments) info.ArgumentList.Add(a);
        _traced = strace is not null;
        _process = Process.Start(info)!;
        _process.OutputDataReceived += (_, e) => Append(_output, e.Data);
        _process.ErrorDataReceived += (_, e) => Append(_errors, e.Data);
        _process.BeginOutputReadLine();
        _process.BeginErrorReadLine();
    }

    private void Append(StringBuilder to, string? line)
    {
        if (line is null) return;
        lock (_lock)
        {
            to.Append(line).Append('\n');
            Monitor.PulseAll(_lock);
        }
    }

    public string Output { get { lock (_lock) return _output.ToString(); } }
    public string Errors { get { lock (_lock) return _errors.ToString(); } }
    public Process Process => _process;

    public void Type(string text)
    {
        _process.StandardInput.Write(text);
        _process.StandardInput.Flush();
    }

    /// <summary>Waits for <paramref name="text"/> after <paramref name="from"/>; returns the index after it.</summary>
    public int WaitFor(string text, int from, TimeSpan timeout)
    {
        var deadline = DateTime.UtcNow + timeout;
        lock (_lock)
        {
            while (true)
            {
                int at = _output.ToString().IndexOf(text, Math.Min(from, _output.Length), StringComparison.Ordinal);
                if (at >= 0) return at + text.Length;
                var left = deadline - DateTime.UtcNow;
                if (left <= TimeSpan.Zero || _process.HasExited && !Monitor.Wait(_lock, 200))
                    throw new TimeoutException($"'{text}' did not appear (exited: {_process.HasExited}); output:\n{_output}\nstderr:\n{_errors}");
                Monitor.Wait(_lock, left < TimeSpan.FromSeconds(1) ? left : TimeSpan.FromSeconds(1));
            }
        }
    }

    /// <summary>Types the command and an echo of a marker the shell computes; returns the output and moves <paramref name="at"/> past it.</summary>
    public string Execute(string command, int sequence, ref int at, TimeSpan timeout)
    {
        Type($"{command}; echo @@$((2000+{sequence}))@@\n");
        string marker = $"@@{2000 + sequence}@@";
        int end = WaitFor(marker, at, timeout);
        string text = Output[at..(end - marker.Length)];
        at = end;
        return text;
    }

    /// <summary>The VMM's process id: the dotnet process itself, or strace's child when traced.</summary>
    public int VmmProcessId
    {
        get
        {
            if (!_traced) return _process.Id;
            string children = File.ReadAllText($"/proc/{_process.Id}/task/{_process.Id}/children").Trim();
            return int.Parse(children.Split(' ')[0]);
        }
    }

    public void Dispose()
    {
        try { if (!_process.HasExited) _process.Kill(entireProcessTree: true); } catch (InvalidOperationException) { }
        _process.WaitForExit(10_000);
        _process.Dispose();
    }
}
