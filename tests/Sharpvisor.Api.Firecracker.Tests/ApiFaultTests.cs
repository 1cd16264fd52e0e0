using System.Net.Sockets;
using System.Text;

namespace Sharpvisor.Api.Firecracker.Tests;

/// <summary>
/// Firecracker's rules, checked on a real process before any guest runs: what it answers, what it refuses (400 with
/// one fault_message naming the field or the reason) and that a refused request changes nothing.
/// </summary>
public sealed class ApiFaultTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("fc-api-").FullName;
    private readonly FirecrackerProcessHarness _fc;
    private HttpClient Http => _fc.Http;

    public ApiFaultTests() => _fc = new FirecrackerProcessHarness(_folder, "--id", "test_vm_1");

    public void Dispose()
    {
        _fc.Dispose();
        Directory.Delete(_folder, recursive: true);
    }

    [Fact]
    public async Task Instance_info_version_and_defaults_answer_before_boot()
    {
        var info = await Http.Get("/");
        Assert.Equal("test_vm_1", info.GetProperty("id").GetString());
        Assert.Equal("Not started", info.GetProperty("state").GetString());
        Assert.Equal("Sharpvisor", info.GetProperty("app_name").GetString());
        var version = (await Http.Get("/version")).GetProperty("firecracker_version").GetString();
        Assert.Equal(info.GetProperty("vmm_version").GetString(), version);
        var machine = await Http.Get("/machine-config");
        Assert.Equal(1, machine.GetProperty("vcpu_count").GetInt32());
        Assert.Equal(128, machine.GetProperty("mem_size_mib").GetInt32());
    }

    [Fact]
    public async Task Machine_config_put_and_patch_show_in_get_and_vm_config()
    {
        await Http.Succeeds("PUT", "/machine-config", """{"vcpu_count": 2, "mem_size_mib": 256, "smt": false}""");
        await Http.Succeeds("PATCH", "/machine-config", """{"mem_size_mib": 384}""");
        var machine = await Http.Get("/machine-config");
        Assert.Equal(2, machine.GetProperty("vcpu_count").GetInt32());
        Assert.Equal(384, machine.GetProperty("mem_size_mib").GetInt32());
        var config = await Http.Get("/vm/config");
        Assert.Equal(384, config.GetProperty("machine-config").GetProperty("mem_size_mib").GetInt32());
        Assert.Equal(0, config.GetProperty("drives").GetArrayLength());
    }

    [Theory]
    [InlineData("""{"vcpu_count": 2, "mem_size_mib": 256, "bogus": 1}""", "unknown field 'bogus'")]
    [InlineData("""{"vcpu_count": "2", "mem_size_mib": 256}""", "'vcpu_count' must be an integer")]
    [InlineData("""{"vcpu_count": 2, "mem_size_mib": 256, "smt": 1}""", "'smt' must be true or false")]
    [InlineData("""{"vcpu_count": 2}""", "missing required field(s) 'mem_size_mib'")]
    [InlineData("""{"vcpu_count": 33, "mem_size_mib": 256}""", "'vcpu_count' must be 1 to 32, not 33")]
    [InlineData("""{"vcpu_count": 3, "mem_size_mib": 256, "smt": true}""", "'vcpu_count' must be 1 or even")]
    [InlineData("""{"vcpu_count": 2, "mem_size_mib": 256""", "not valid JSON")]
    [InlineData("""[1, 2]""", "a JSON object is expected")]
    public async Task A_bad_machine_config_is_refused_naming_the_field_and_changes_nothing(string body, string expected)
    {
        var message = await Http.Fails("PUT", "/machine-config", body);
        Assert.Contains(expected, message);
        Assert.Equal(128, (await Http.Get("/machine-config")).GetProperty("mem_size_mib").GetInt32());
    }

    [Fact]
    public async Task Nested_fields_are_named_by_their_path()
    {
        string disk = Path.Combine(_folder, "disk.img");
        File.WriteAllBytes(disk, new byte[4096]);
        string Drive(string limiter) =>
            $$"""{"drive_id": "rootfs", "path_on_host": "{{disk}}", "is_root_device": true, "is_read_only": false, "rate_limiter": {{limiter}}}""";
        Assert.Contains("unknown field 'rate_limiter.bandwidth.sizee'", await Http.Fails("PUT", "/drives/rootfs", Drive("""{"bandwidth": {"sizee": 1, "refill_time": 100}}""")));
        Assert.Contains("'rate_limiter.bandwidth.size' must be an integer", await Http.Fails("PUT", "/drives/rootfs", Drive("""{"bandwidth": {"size": "x", "refill_time": 100}}""")));
        Assert.Contains("missing required field(s) 'rate_limiter.bandwidth.size'", await Http.Fails("PUT", "/drives/rootfs", Drive("""{"bandwidth": {"refill_time": 100}}""")));
        Assert.Contains("'rate_limiter.ops.one_time_burst' must not be negative", await Http.Fails("PUT", "/drives/rootfs",
            Drive("""{"ops": {"size": 10, "refill_time": 100, "one_time_burst": -1}}""")));
        Assert.Equal(0, (await Http.Get("/vm/config")).GetProperty("drives").GetArrayLength());
        await Http.Succeeds("PUT", "/drives/rootfs", Drive("""{"bandwidth": {"size": 1000, "refill_time": 100}}"""));
        var limiter = (await Http.Get("/vm/config")).GetProperty("drives")[0].GetProperty("rate_limiter");
        Assert.Equal(1000, limiter.GetProperty("bandwidth").GetProperty("size").GetInt64());
        Assert.Contains("before the microVM starts", await Http.Fails("PATCH", "/drives/rootfs", """{"drive_id": "rootfs", "rate_limiter": {}}"""));
    }

    [Fact]
    public async Task Drives_check_ids_files_and_the_single_root_device()
    {
        string disk = Path.Combine(_folder, "disk.img"), data = Path.Combine(_folder, "data.img");
        File.WriteAllBytes(disk, new byte[4096]);
        File.WriteAllBytes(data, new byte[4096]);
        Assert.Contains("differs from 'drive_id'", await Http.Fails("PUT", "/drives/rootfs",
            $$"""{"drive_id": "other", "path_on_host": "{{disk}}", "is_root_device": true, "is_read_only": false}"""));
        Assert.Contains("letters, digits and underscores", await Http.Fails("PUT", "/drives/root-fs",
            $$"""{"drive_id": "root-fs", "path_on_host": "{{disk}}", "is_root_device": true, "is_read_only": false}"""));
        Assert.Contains("/nonexistent/disk.img does not exist", await Http.Fails("PUT", "/drives/rootfs",
            """{"drive_id": "rootfs", "path_on_host": "/nonexistent/disk.img", "is_root_device": true, "is_read_only": false}"""));
        await Http.Succeeds("PUT", "/drives/rootfs", $$"""{"drive_id": "rootfs", "path_on_host": "{{disk}}", "is_root_device": true, "is_read_only": false}""");
        Assert.Contains("already the root device", await Http.Fails("PUT", "/drives/data",
            $$"""{"drive_id": "data", "path_on_host": "{{data}}", "is_root_device": true, "is_read_only": true}"""));
        await Http.Succeeds("PUT", "/drives/data", $$"""{"drive_id": "data", "path_on_host": "{{data}}", "is_root_device": false, "is_read_only": true}""");
        var drives = (await Http.Get("/vm/config")).GetProperty("drives");
        Assert.Equal(["rootfs", "data"], drives.EnumerateArray().Select(d => d.GetProperty("drive_id").GetString()));
    }

    [Fact]
    public async Task Calls_in_the_wrong_state_paths_and_methods_are_refused()
    {
        Assert.Contains("before the microVM starts", await Http.Fails("PATCH", "/vm", """{"state": "Paused"}"""));
        Assert.Contains("before the microVM starts", await Http.Fails("PUT", "/snapshot/create", """{"snapshot_path": "/tmp/a", "mem_file_path": "/tmp/b"}"""));
        Assert.Contains("before the microVM starts", await Http.Fails("PUT", "/actions", """{"action_type": "FlushMetrics"}"""));
        Assert.Contains("before the microVM starts", await Http.Fails("PATCH", "/balloon", """{"amount_mib": 1}"""));
        Assert.Contains("needs a kernel", await Http.Fails("PUT", "/actions", """{"action_type": "InstanceStart"}"""));
        Assert.Contains("'action_type' must be", await Http.Fails("PUT", "/actions", """{"action_type": "Reboot"}"""));
        Assert.Contains("no such API path", await Http.Fails("PUT", "/nothing", "{}"));
        Assert.Contains("does not take DELETE", await Http.Fails("DELETE", "/machine-config"));
        Assert.Contains("needs a JSON body", await Http.Fails("PUT", "/machine-config"));
        Assert.Contains("takes no body", await Http.Fails("GET", "/machine-config", "{}"));
        Assert.Contains("there is no network interface 'eth0'", await Http.Fails("PUT", "/mmds/config", """{"network_interfaces": ["eth0"]}"""));
        Assert.Contains("does not exist", await Http.Fails("PUT", "/boot-source", """{"kernel_image_path": "/nonexistent/vmlinux"}"""));
        Assert.Equal("Not started", (await Http.Get("/")).GetProperty("state").GetString());
    }

    [Fact]
    public async Task Vsock_is_checked_and_shows_in_vm_config()
    {
        string uds = Path.Combine(_folder, "v.sock");
        Assert.Contains("'guest_cid' must be 3 to 4294967294", await Http.Fails("PUT", "/vsock", $$"""{"guest_cid": 2, "uds_path": "{{uds}}"}"""));
        Assert.Contains("missing required field(s) 'uds_path'", await Http.Fails("PUT", "/vsock", """{"guest_cid": 3}"""));
        Assert.Contains("'uds_path'", await Http.Fails("PUT", "/vsock", """{"guest_cid": 3, "uds_path": "/nonexistent/v.sock"}"""));
        await Http.Succeeds("PUT", "/vsock", $$"""{"vsock_id": "vsock0", "guest_cid": 3, "uds_path": "{{uds}}"}""");
        var vsock = (await Http.Get("/vm/config")).GetProperty("vsock");
        Assert.Equal(3, vsock.GetProperty("guest_cid").GetInt32());
        Assert.Equal(uds, vsock.GetProperty("uds_path").GetString());
        Assert.False(File.Exists(uds), "the socket is made at InstanceStart, not before");
    }

    [Fact]
    public async Task Mmds_data_store_takes_put_and_merge_patch_within_its_limit()
    {
        Assert.Equal("{}", (await Http.Get("/mmds")).GetRawText());
        await Http.Succeeds("PUT", "/mmds", """{"latest": {"meta-data": {"ami-id": "ami-1", "reservation-id": "r-1"}}}""");
        await Http.Succeeds("PATCH", "/mmds", """{"latest": {"meta-data": {"ami-id": "ami-2", "reservation-id": null, "tags": ["a"]}}}""");
        Assert.Equal("""{"latest":{"meta-data":{"ami-id":"ami-2","tags":["a"]}}}""", (await Http.Get("/mmds")).GetRawText());
        Assert.Contains("must be a JSON object", await Http.Fails("PUT", "/mmds", "[1]"));
        Assert.Contains("not valid JSON", await Http.Fails("PATCH", "/mmds", """{"a": """));
        // Two patches each under the API's body limit, together over the store's: the second gets Firecracker's 413.
        await Http.Succeeds("PATCH", "/mmds", $$"""{"one": "{{new string('x', 30_000)}}"}""");
        var (status, body) = await Http.Send("PATCH", "/mmds", $$"""{"two": "{{new string('y', 30_000)}}"}""");
        Assert.Equal(System.Net.HttpStatusCode.RequestEntityTooLarge, status);
        Assert.Contains("more than its limit of 51200", System.Text.Json.JsonDocument.Parse(body).RootElement.GetProperty("fault_message").GetString());
        Assert.False((await Http.Get("/mmds")).TryGetProperty("two", out _));
    }

    [Fact]
    public async Task Snapshot_load_is_refused_once_the_machine_was_configured()
    {
        await Http.Succeeds("PUT", "/machine-config", """{"vcpu_count": 1, "mem_size_mib": 256}""");
        var message = await Http.Fails("PUT", "/snapshot/load", """{"snapshot_path": "/tmp/none.state", "mem_file_path": "/tmp/none.mem"}""");
        Assert.Contains("only in a fresh process", message);
    }

    [Fact]
    public async Task A_body_over_51200_bytes_is_refused_and_one_at_the_limit_is_read()
    {
        string Padded(int total)
        {
            string start = """{"vcpu_count": 1, "mem_size_mib": 256""";
            return start + new string(' ', total - start.Length - 1) + "}";
        }
        Assert.Contains("limit of 51200 bytes", await Http.Fails("PUT", "/machine-config", Padded(51_201)));
        await Http.Succeeds("PUT", "/machine-config", Padded(51_200));
        Assert.Equal(256, (await Http.Get("/machine-config")).GetProperty("mem_size_mib").GetInt32());
    }

    [Fact]
    public async Task Ten_connections_are_accepted_at_once()
    {
        var sockets = new List<Socket>();
        try
        {
            for (int i = 0; i < 10; i++)
            {
                var socket = new Socket(AddressFamily.Unix, SocketType.Stream, ProtocolType.Unspecified);
                await socket.ConnectAsync(new UnixDomainSocketEndPoint(_fc.Socket));
                sockets.Add(socket);
            }
            // Every connection open at once, then each asks in turn: all answer.
            foreach (var socket in sockets)
            {
                await socket.SendAsync(Encoding.ASCII.GetBytes("GET / HTTP/1.1\r\nHost: localhost\r\nAccept: application/json\r\n\r\n"));
                var buffer = new byte[4096];
                var answer = new StringBuilder();
                while (!answer.ToString().Contains("Not started"))
                {
                    int n = await socket.ReceiveAsync(buffer);
                    Assert.True(n > 0, $"connection closed after: {answer}");
                    answer.Append(Encoding.ASCII.GetString(buffer, 0, n));
                }
                Assert.StartsWith("HTTP/1.1 200", answer.ToString());
            }
        }
        finally
        {
            foreach (var socket in sockets) socket.Dispose();
        }
    }
}
