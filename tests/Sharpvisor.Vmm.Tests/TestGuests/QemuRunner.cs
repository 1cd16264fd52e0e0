using System.Diagnostics;
using System.Text;

namespace Sharpvisor.Vmm.Tests.TestGuests;

/// <summary>Boots a test guest under qemu-system-x86_64 (TCG) and collects its serial output and exit status.</summary>
internal static class QemuRunner
{
    public sealed record Result(int ExitCode, string Output, TimeSpan Elapsed)
    {
        public IReadOnlyList<string> Lines => Output.Split('\n').Select(l => l.TrimEnd('\r')).ToList();
    }

    public static string Binary { get; } = HostRequires.FindOnPath("qemu-system-x86_64") ?? "";

    /// <summary>A virtio-rng and, with <paramref name="diskPath"/>, a virtio-blk function on that raw image; modern-only
    /// (device IDs 0x1040 + type) unless <paramref name="transitional"/>, which is QEMU's default for pc.</summary>
    public static IReadOnlyList<string> VirtioArguments(string? diskPath, bool transitional = false)
    {
        string legacy = transitional ? "" : ",disable-legacy=on";
        var args = new List<string> { "-device", "virtio-rng-pci" + legacy };
        if (diskPath is not null)
            args.AddRange(["-drive", $"file={diskPath},format=raw,if=none,id=vd0", "-device", "virtio-blk-pci,drive=vd0" + legacy]);
        return args;
    }

    /// <param name="serialInput">Written to QEMU's stdin, which is COM1's input with -serial stdio: at once, or once the
    /// guest printed the line <paramref name="inputPrompt"/> (SeaBIOS's serial console on pc swallows earlier input).
    /// Stdin stays open either way, so a guest that waits for more input sees none arrive.</param>
    /// <param name="extraArguments">Appended to QEMU's command line, e.g. <see cref="VirtioArguments"/>.</param>
    public static Result Run(byte[] elf, string machine = "pc", string? append = null, bool pcTestdev = true,
                             int memoryMiB = 256, int timeoutSeconds = 60, string serialInput = "", string inputPrompt = "",
                             IReadOnlyList<string>? extraArguments = null)
    {
        HostRequires.Tool("qemu-system-x86_64", "qemu-system-x86");   // callers are skippable tests
        string file = Path.Combine(Path.GetTempPath(), $"sharpvisor-guest-{Guid.NewGuid():N}.elf");
        File.WriteAllBytes(file, elf);
        try
        {
            var psi = new ProcessStartInfo(Binary)
            {
                RedirectStandardOutput = true,
                RedirectStandardError = true,
                RedirectStandardInput = true,
                UseShellExecute = false,
            };
            foreach (string arg in new[]
                     {
                         "-accel", "tcg", "-M", machine, "-m", memoryMiB.ToString(), "-nographic", "-no-reboot",
                         "-serial", "stdio", "-monitor", "none", "-net", "none",
                         "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-kernel", file,
                     })
                psi.ArgumentList.Add(arg);
            if (pcTestdev) { psi.ArgumentList.Add("-device"); psi.ArgumentList.Add("pc-testdev"); }
            if (append != null) { psi.ArgumentList.Add("-append"); psi.ArgumentList.Add(append); }
            foreach (string arg in extraArguments ?? []) psi.ArgumentList.Add(arg);

            var output = new StringBuilder();
            var clock = Stopwatch.StartNew();
            using var process = Process.Start(psi)!;
            bool inputSent = false;
            void SendInput()
            {
                inputSent = true;
                try
                {
                    process.StandardInput.Write(serialInput);
                    process.StandardInput.Flush();
                }
                catch (IOException) { }               // QEMU already exited; its output tells why
            }
            process.OutputDataReceived += (_, e) =>
            {
                if (e.Data == null) return;
                lock (output)
                {
                    output.Append(e.Data).Append('\n');
                    if (serialInput != "" && !inputSent && e.Data.TrimEnd('\r').EndsWith(inputPrompt, StringComparison.Ordinal))
                        SendInput();
                }
            };
            process.ErrorDataReceived += (_, e) => { if (e.Data != null) lock (output) output.Append(e.Data).Append('\n'); };
            process.BeginOutputReadLine();
            process.BeginErrorReadLine();
            if (serialInput != "" && inputPrompt == "") lock (output) SendInput();
            if (!process.WaitForExit(TimeSpan.FromSeconds(timeoutSeconds)))
            {
                process.Kill(entireProcessTree: true);
                process.WaitForExit();
                Assert.Fail($"QEMU did not stop within {timeoutSeconds} s; output so far:\n{output}");
            }
            process.WaitForExit();                    // drains the redirected streams
            lock (output) return new Result(process.ExitCode, output.ToString(), clock.Elapsed);
        }
        finally
        {
            File.Delete(file);
        }
    }
}
