using System.Diagnostics;
using System.Text.Json;
using Sharpvisor.Vmm.Images;

namespace Sharpvisor.Api.Firecracker.Tests;

/// <summary>
/// The default guest booted through the API on the engine auto picks (the emulator where Linux cannot run on KVM):
/// Firecracker's getting-started sequence played with curl, and pause, snapshot, load in a new process, resume.
/// </summary>
public sealed class GuestBootTests : IDisposable
{
    private static readonly TimeSpan BootTimeout = TimeSpan.FromMinutes(6);
    private readonly string _folder = Directory.CreateTempSubdirectory("fc-boot-").FullName;
    private string? _tap;

    public void Dispose()
    {
        if (_tap is not null) RunTool("ip", $"link del {_tap}");
        Directory.Delete(_folder, recursive: true);
    }

    private static GuestImage DefaultGuest() => DefaultGuestImage.EnsureAsync().GetAwaiter().GetResult();

    private static (int Exit, string Output) RunTool(string file, string arguments)
    {
        var info = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries)) info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        process.WaitForExit();
        return (process.ExitCode, stdout.Result + stderr.Result);
    }

    // curl as the getting-started guide calls it: -i shows the status line.
    private static string Curl(string socket, string method, string path, string json)
    {
        var info = new ProcessStartInfo("curl") { RedirectStandardOutput = true, RedirectStandardError = true };
        foreach (var a in new[] { "-s", "-i", "--unix-socket", socket, "-X", method, $"http://localhost{path}",
                     "-H", "Accept: application/json", "-H", "Content-Type: application/json", "-d", json })
            info.ArgumentList.Add(a);
        using var process = Process.Start(info)!;
        string output = process.StandardOutput.ReadToEnd();
        process.WaitForExit();
        return output;
    }

    private static void CurlSucceeds(string socket, string method, string path, string json)
    {
        string answer = Curl(socket, method, path, json);
        Assert.True(answer.StartsWith("HTTP/1.1 204", StringComparison.Ordinal), $"{method} {path}: {answer}");
    }

    private static string? WhyNoRootNetwork()
    {
        if (Environment.UserName != "root") return "needs root: it creates a tap interface";
        if (!File.Exists("/dev/net/tun")) return "needs /dev/net/tun (the tun driver: modprobe tun)";
        return HostRequires.FindOnPath("ip") is null ? "needs the ip command (Debian package iproute2)" : null;
    }

    [SkippableFact]
    public async Task Getting_started_with_curl_boots_the_default_guest_on_a_rootfs_with_a_tap_and_its_shell_answers()
    {
        HostRequires.Tool("curl", "curl");
        HostRequires.Tool("mkfs.ext4", "e2fsprogs");
        string? noNetwork = WhyNoRootNetwork();
        Skip.If(noNetwork is not null, noNetwork);
        var image = DefaultGuest();
        string rootfs = Path.Combine(_folder, "rootfs.ext4"), log = Path.Combine(_folder, "fc.log"), metrics = Path.Combine(_folder, "metrics.json");
        var build = RunTool("dotnet", $"{Path.Combine(AppContext.BaseDirectory, "sharpvisor.dll")} image rootfs {rootfs}");
        Assert.True(build.Exit == 0, build.Output);
        // The guide's host side of the network: a tap with an address, made before the VM starts.
        int subnet = Random.Shared.Next(1, 250);
        _tap = $"fctap{Environment.ProcessId % 100000}";
        string hostIp = $"10.213.{subnet}.1", guestIp = $"10.213.{subnet}.2";
        Assert.Equal(0, RunTool("ip", $"tuntap add dev {_tap} mode tap").Exit);
        Assert.Equal(0, RunTool("ip", $"addr add {hostIp}/30 dev {_tap}").Exit);
        Assert.Equal(0, RunTool("ip", $"link set {_tap} up").Exit);

        using var fc = new FirecrackerProcessHarness(_folder);
        string sock = fc.Socket;
        File.WriteAllText(log, "");
        CurlSucceeds(sock, "PUT", "/logger", $$"""{"log_path": "{{log}}", "level": "Debug", "show_level": true, "show_log_origin": false}""");
        CurlSucceeds(sock, "PUT", "/metrics", $$"""{"metrics_path": "{{metrics}}"}""");
        CurlSucceeds(sock, "PUT", "/boot-source",
            $$"""{"kernel_image_path": "{{image.KernelPath}}", "initrd_path": "{{image.InitrdPath}}", "boot_args": "console=ttyS0 reboot=k panic=1 pci=off"}""");
        CurlSucceeds(sock, "PUT", "/drives/rootfs", $$"""{"drive_id": "rootfs", "path_on_host": "{{rootfs}}", "is_root_device": true, "is_read_only": false}""");
        // A second drive read through a 1 MiB/s bucket (256 KiB a 250 ms), holding 2 MiB the guest checksums.
        string scratch = Path.Combine(_folder, "scratch.img");
        var data = new byte[2 << 20];
        Random.Shared.NextBytes(data);
        File.WriteAllBytes(scratch, data);
        string scratchMd5 = Convert.ToHexStringLower(System.Security.Cryptography.MD5.HashData(data));
        CurlSucceeds(sock, "PUT", "/drives/scratch", $$"""
            {"drive_id": "scratch", "path_on_host": "{{scratch}}", "is_root_device": false, "is_read_only": true,
             "rate_limiter": {"bandwidth": {"size": 262144, "refill_time": 250} } }
            """);
        CurlSucceeds(sock, "PUT", "/network-interfaces/net1", $$"""
            {"iface_id": "net1", "guest_mac": "06:00:AC:10:00:02", "host_dev_name": "{{_tap}}",
             "tx_rate_limiter": {"ops": {"size": 1000, "refill_time": 1000} } }
            """);
        CurlSucceeds(sock, "PUT", "/machine-config", """{"vcpu_count": 1, "mem_size_mib": 256}""");
        // MMDS version 2 on net1, with a nested value the guest reads with busybox's wget.
        CurlSucceeds(sock, "PUT", "/mmds/config", """{"network_interfaces": ["net1"], "version": "V2"}""");
        CurlSucceeds(sock, "PUT", "/mmds", """{"latest": {"meta-data": {"ami-id": "ami-0badc0de", "network": {"subnet-id": "subnet-f00d"}}}}""");
        CurlSucceeds(sock, "PUT", "/balloon", """{"amount_mib": 0, "deflate_on_oom": true, "stats_polling_interval_s": 1}""");
        CurlSucceeds(sock, "PUT", "/actions", """{"action_type": "InstanceStart"}""");

        fc.WaitForConsole(DefaultGuestImage.ReadyLinePrefix, BootTimeout);
        fc.Type($"cat /proc/cmdline; ls {GuestInitScript.RootFilesystemMarker} && echo ROOTFS-$((40+2))");
        fc.Type($"ip addr add {guestIp}/30 dev eth0 && ip link set eth0 up && ping -c 1 -W 10 {hostIp} && echo PING-$((40+2))");
        fc.WaitForConsole("PING-42", TimeSpan.FromMinutes(2));
        Assert.Contains("ROOTFS-42", fc.Stdout);
        Assert.Contains("root=/dev/vda rw", fc.Stdout);
        Assert.DoesNotContain("pci=off", fc.Stdout.Split("cat /proc/cmdline")[1].Split('\n')[1]);

        // The token through busybox nc (its wget cannot PUT), then GETs with wget: without a token 401, with it the values.
        fc.Type("ip route add 169.254.169.254 dev eth0");
        fc.Type("T=$(printf 'PUT /latest/api/token HTTP/1.1\\r\\nX-metadata-token-ttl-seconds: 60\\r\\n\\r\\n' | nc 169.254.169.254 80 | tail -n 1)");
        fc.Type("echo TOKEN-LENGTH-${#T}; wget -q -O - http://169.254.169.254/latest/meta-data/ami-id || echo NO-TOKEN-$((400+1))");
        fc.Type("wget -q -O - --header \"X-metadata-token: $T\" http://169.254.169.254/latest/meta-data/network/subnet-id; echo; echo MMDS-$((40+2))");
        fc.WaitForConsole("MMDS-42", TimeSpan.FromMinutes(2));
        Assert.Contains("NO-TOKEN-401", fc.Stdout);
        Assert.Contains("TOKEN-LENGTH-64", fc.Stdout);
        Assert.Contains("subnet-f00d", fc.Stdout);
        fc.Type("wget -q -O - --header \"X-metadata-token: $T\" --header 'Accept: application/json' http://169.254.169.254/latest/meta-data; echo; echo JSON-$((40+2))");
        fc.WaitForConsole("JSON-42", TimeSpan.FromMinutes(1));
        Assert.Contains("""{"ami-id":"ami-0badc0de","network":{"subnet-id":"subnet-f00d"}}""", fc.Stdout);

        fc.Type("dd if=/dev/vdb bs=64k count=32 2>/dev/null | md5sum; echo READ-$((40+2))");
        fc.WaitForConsole("READ-42", TimeSpan.FromMinutes(2));
        Assert.Contains($"{scratchMd5}  -", fc.Stdout);

        Assert.Equal("Running", (await fc.Http.Get("/")).GetProperty("state").GetString());
        Assert.Contains("after the microVM started", await fc.Http.Fails("PUT", "/boot-source", $$"""{"kernel_image_path": "{{image.KernelPath}}"}"""));
        Assert.Contains("after the microVM started", await fc.Http.Fails("PUT", "/machine-config", """{"vcpu_count": 2, "mem_size_mib": 256}"""));
        CurlSucceeds(sock, "PUT", "/actions", """{"action_type": "FlushMetrics"}""");
        var line = JsonDocument.Parse(File.ReadLines(metrics).Last()).RootElement;
        Assert.True(line.GetProperty("utc_timestamp_ms").GetInt64() > 0);
        // The scratch drive's reads waited for their bucket; the interface's frames went through its ops bucket.
        var block = line.GetProperty("block").GetProperty("scratch");
        Assert.True(block.GetProperty("bytes").GetInt64() >= 2 << 20, block.ToString());
        Assert.True(block.GetProperty("throttled_requests").GetInt64() > 0, block.ToString());
        Assert.True(line.GetProperty("net").GetProperty("net1").GetProperty("tx").GetProperty("operations").GetInt64() > 0, line.ToString());
        Console.WriteLine($"scratch drive: {block}");
        // PATCH after boot: a new bucket for the drive, shown by GET /vm/config; a negative size is refused by name.
        await fc.Http.Succeeds("PATCH", "/drives/scratch", """{"drive_id": "scratch", "rate_limiter": {"ops": {"size": 100, "refill_time": 1000}}}""");
        var patched = (await fc.Http.Get("/vm/config")).GetProperty("drives").EnumerateArray().Single(d => d.GetProperty("drive_id").GetString() == "scratch");
        Assert.Equal(100, patched.GetProperty("rate_limiter").GetProperty("ops").GetProperty("size").GetInt64());
        Assert.Equal(262144, patched.GetProperty("rate_limiter").GetProperty("bandwidth").GetProperty("size").GetInt64());
        Assert.Contains("'rx_rate_limiter.bandwidth.size' must not be negative", await fc.Http.Fails("PATCH", "/network-interfaces/net1",
            """{"iface_id": "net1", "rx_rate_limiter": {"bandwidth": {"size": -1, "refill_time": 100}}}"""));
        Assert.Contains("the microVM started", File.ReadAllText(log));

        // The balloon takes 64 MiB; the guest's driver gives them and its statistics say so.
        await fc.Http.Succeeds("PATCH", "/balloon", """{"amount_mib": 64}""");
        FirecrackerProcessHarness.WaitFor(() =>
        {
            var stats = fc.Http.Get("/balloon/statistics").GetAwaiter().GetResult();
            return stats.GetProperty("actual_mib").GetInt64() == 64 && stats.TryGetProperty("free_memory", out _);
        }, TimeSpan.FromMinutes(2), "the balloon did not reach 64 MiB");
        Assert.Equal(64, (await fc.Http.Get("/balloon")).GetProperty("amount_mib").GetInt64());

        fc.Type("poweroff -f");
        Assert.Equal(0, fc.WaitForExit(TimeSpan.FromMinutes(1)));
        Assert.False(File.Exists(sock), "the API socket outlived the process");
    }

    [SkippableFact]
    public async Task Config_file_boot_pause_snapshot_then_load_in_a_new_process_and_the_guest_still_answers()
    {
        var image = DefaultGuest();
        string config = Path.Combine(_folder, "vm.json"), state = Path.Combine(_folder, "snap.state"), memory = Path.Combine(_folder, "snap.mem");
        string vsock = Path.Combine(_folder, "v.sock");
        File.WriteAllText(config, $$"""
            {
              "boot-source": {"kernel_image_path": "{{image.KernelPath}}", "initrd_path": "{{image.InitrdPath}}", "boot_args": "console=ttyS0 reboot=k panic=1"},
              "machine-config": {"vcpu_count": 1, "mem_size_mib": 256},
              "drives": [], "network-interfaces": [],
              "vsock": {"guest_cid": 3, "uds_path": "{{vsock}}"}
            }
            """);
        using (var first = new FirecrackerProcessHarness(_folder, "--config-file", config))
        {
            first.WaitForConsole(DefaultGuestImage.ReadyLinePrefix, BootTimeout);
            first.Type("X=41; echo SET-$X");
            first.WaitForConsole("SET-41", TimeSpan.FromMinutes(1));
            // A vsock connection open across the snapshot: the host program reaches the guest's listener on port 6000.
            first.Type("vsockcat 6000 < /dev/null > /tmp/v1 &");
            using var open = VsockHost.Connect(vsock, 6000, TimeSpan.FromMinutes(1));
            open.Send("vsock-payload-one\n"u8);
            var vmConfig = await first.Http.Get("/vm/config");
            Assert.Equal(image.KernelPath, vmConfig.GetProperty("boot-source").GetProperty("kernel_image_path").GetString());
            Assert.Contains("must be paused", await first.Http.Fails("PUT", "/snapshot/create", $$"""{"snapshot_path": "{{state}}", "mem_file_path": "{{memory}}"}"""));
            await first.Http.Succeeds("PATCH", "/vm", """{"state": "Paused"}""");
            Assert.Equal("Paused", (await first.Http.Get("/")).GetProperty("state").GetString());
            Assert.Contains("Diff", await first.Http.Fails("PUT", "/snapshot/create",
                $$"""{"snapshot_type": "Diff", "snapshot_path": "{{state}}", "mem_file_path": "{{memory}}"}"""));
            await first.Http.Succeeds("PUT", "/snapshot/create", $$"""{"snapshot_type": "Full", "snapshot_path": "{{state}}", "mem_file_path": "{{memory}}"}""");
            Assert.Equal(["snap.mem", "snap.state", "vm.json"], Directory.GetFiles(_folder).Select(Path.GetFileName).Where(n => !n!.EndsWith(".sock")).Order());
            await first.Http.Succeeds("PATCH", "/vm", """{"state": "Resumed"}""");
            first.Type("echo AFTER-$((X+2))");
            first.WaitForConsole("AFTER-43", TimeSpan.FromMinutes(1));
        }

        using var second = new FirecrackerProcessHarness(_folder);
        await second.Http.Succeeds("PUT", "/snapshot/load",
            $$"""{"snapshot_path": "{{state}}", "mem_backend": {"backend_type": "File", "backend_path": "{{memory}}"}, "resume_vm": true}""");
        Assert.Equal("Running", (await second.Http.Get("/")).GetProperty("state").GetString());
        Assert.Equal(256, (await second.Http.Get("/machine-config")).GetProperty("mem_size_mib").GetInt32());
        Assert.Contains("after the microVM started", await second.Http.Fails("PUT", "/snapshot/load",
            $$"""{"snapshot_path": "{{state}}", "mem_file_path": "{{memory}}"}"""));
        second.Type("echo RESTORED-$((X+1))");
        second.WaitForConsole("RESTORED-42", TimeSpan.FromMinutes(1));
        // As in Firecracker, the restored device reset the guest's vsock connections (its listener's ended), and new
        // connections work.
        second.Type("wait; cat /tmp/v1; echo VSOCK-$((6000+1))");
        second.WaitForConsole("VSOCK-6001", TimeSpan.FromMinutes(1));
        Assert.Contains("vsock-payload-one", second.Stdout);
        second.Type("vsockcat 6001 < /dev/null > /tmp/v2 &");
        using (var fresh = VsockHost.Connect(vsock, 6001, TimeSpan.FromMinutes(1)))
        {
            fresh.Send("vsock-payload-two\n"u8);
            fresh.Shutdown(System.Net.Sockets.SocketShutdown.Send);
        }
        second.Type("wait; cat /tmp/v2");
        second.WaitForConsole("vsock-payload-two", TimeSpan.FromMinutes(1));
        await second.Http.Succeeds("PATCH", "/vm", """{"state": "Paused"}""");
        await second.Http.Succeeds("PATCH", "/vm", """{"state": "Resumed"}""");
        // The default guest reboots on Ctrl-Alt-Del, and a Firecracker process ends when its guest reboots.
        await second.Http.Succeeds("PUT", "/actions", """{"action_type": "SendCtrlAltDel"}""");
        Assert.Equal(0, second.WaitForExit(TimeSpan.FromMinutes(1)));
    }
}
