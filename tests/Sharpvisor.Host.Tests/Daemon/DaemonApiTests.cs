using System.Net;
using System.Net.Http.Headers;
using System.Text.Json;
using Sharpvisor.Api.Rest.Security;

namespace Sharpvisor.Host.Tests.Daemon;

/// <summary>The daemon's API without booting guests: definitions, bad input, admission at its boundary, TLS and the token, OpenAPI, metrics.</summary>
public sealed class DaemonApiTests : IDisposable
{
    // 1,536 MiB host, 512 MiB reserved, ratio 1.5: a memory limit of exactly 1,536 MiB; 2 cores × 4.0 = 8 vCPUs.
    private readonly DaemonProcess _daemon = new(null, "--host-memory", "1536M", "--host-cores", "2");

    public void Dispose() => _daemon.Dispose();

    private Task<(int Status, JsonElement Body)> Create(object body) => _daemon.SendAsync(HttpMethod.Post, "/1.0/instances", body);

    [Fact]
    public async Task A_definition_is_stored_listed_changed_with_its_etag_and_deleted()
    {
        var (status, created) = await Create(new { name = "alpha", vcpus = 2, memory = "256M", description = "first" });
        Assert.Equal(201, status);
        Assert.Equal("stopped", created.GetProperty("metadata").GetProperty("status").GetString());
        Assert.Equal(2, created.GetProperty("metadata").GetProperty("vcpus").GetInt32());
        Assert.Equal(256UL << 20, created.GetProperty("metadata").GetProperty("memory_bytes").GetUInt64());

        var list = await _daemon.GetAsync("/1.0/instances");
        Assert.Equal(["alpha"], list.EnumerateArray().Select(i => i.GetProperty("name").GetString()!).ToArray());

        using var get = await _daemon.Http.GetAsync("/1.0/instances/alpha");
        string etag = get.Headers.ETag!.Tag;
        using var patch = new HttpRequestMessage(HttpMethod.Patch, "/1.0/instances/alpha") { Content = new StringContent("""{"memory":"384M"}""") };
        patch.Headers.IfMatch.Add(new EntityTagHeaderValue(etag));
        using var patched = await _daemon.Http.SendAsync(patch);
        Assert.Equal(HttpStatusCode.OK, patched.StatusCode);
        Assert.Equal(384UL << 20, (await _daemon.GetAsync("/1.0/instances/alpha")).GetProperty("memory_bytes").GetUInt64());

        using var stale = new HttpRequestMessage(HttpMethod.Patch, "/1.0/instances/alpha") { Content = new StringContent("""{"memory":"128M"}""") };
        stale.Headers.IfMatch.Add(new EntityTagHeaderValue(etag)); // the revision before the change
        using var refused = await _daemon.Http.SendAsync(stale);
        Assert.Equal(HttpStatusCode.PreconditionFailed, refused.StatusCode);
        Assert.Equal(384UL << 20, (await _daemon.GetAsync("/1.0/instances/alpha")).GetProperty("memory_bytes").GetUInt64());

        Assert.Equal(200, (await _daemon.SendAsync(HttpMethod.Delete, "/1.0/instances/alpha")).Status);
        Assert.Equal(404, (await _daemon.SendAsync(HttpMethod.Get, "/1.0/instances/alpha")).Status);
        Assert.False(Directory.Exists(Path.Combine(_daemon.StateDirectory, "vms", "alpha")));
    }

    [Theory]
    [InlineData("""{"name":"ok1","memroy":"256M"}""", 400, "memroy", "unknown field")]
    [InlineData("""{"name":"ok1","memory":"-5M"}""", 400, "memory", "not a memory size")]
    [InlineData("""{"name":"ok1","memory":"99999999T"}""", 400, "memory", "too large")]
    [InlineData("""{"name":"ok1","memory":"4T"}""", 400, "memory", "1 TiB")]
    [InlineData("""{"name":"a/b"}""", 400, "name", "lower-case letters")]
    [InlineData("""{"name":".."}""", 400, "name", "lower-case letters")]
    [InlineData("""{"name":"ok1","vcpus":"two"}""", 400, "vcpus", "wrong type")]
    [InlineData("""{"name":"ok1","vcpus":0}""", 400, "vcpus", "must be 1 to")]
    [InlineData("""{"name":"ok1","engine":"xen"}""", 400, "engine", "not one of")]
    [InlineData("""{"name":"ok1","disks":[{"path":"/etc/shadow"}]}""", 400, "disks[0]", "outside the folders")]
    [InlineData("""{"name":"ok1","restart_policy":"sometimes"}""", 400, "restart_policy", "not no, on-failure or always")]
    [InlineData("""{"name":"ok1","kernel":"relative/vmlinuz"}""", 400, "kernel", "not an absolute path")]
    [InlineData("""{"name":"ok1","kernel":"/etc/hostname"}""", 400, "kernel", "outside the folders")]
    [InlineData("""not json""", 400, null, "not valid JSON")]
    public async Task Bad_input_gets_a_4xx_naming_the_field_and_changes_nothing(string body, int status, string? field, string message)
    {
        var (code, reply) = await _daemon.SendAsync(HttpMethod.Post, "/1.0/instances", rawBody: body);
        Assert.Equal(status, code);
        Assert.Equal("error", reply.GetProperty("type").GetString());
        Assert.Contains(message, reply.GetProperty("error").GetString());
        if (field is not null) Assert.Equal(field, reply.GetProperty("field").GetString());
        Assert.Empty((await _daemon.GetAsync("/1.0/instances")).EnumerateArray());
    }

    [Fact]
    public async Task A_kernel_and_initrd_must_come_from_the_disk_folders_since_the_guest_reads_them_whole()
    {
        string kernel = Path.Combine(_daemon.DiskRoot, "vmlinuz");
        File.WriteAllBytes(kernel, new byte[4096]);
        var (code, reply) = await Create(new { name = "peek", kernel, initrd = "/etc/shadow" });
        Assert.Equal(400, code);
        Assert.Equal("initrd", reply.GetProperty("field").GetString());
        Assert.Contains("outside the folders", reply.GetProperty("error").GetString());
        Assert.Equal(201, (await Create(new { name = "plain", kernel })).Status);
    }

    [Fact]
    public async Task A_body_over_one_MiB_is_refused_with_413()
    {
        string huge = $$"""{"name":"big","description":"{{new string('x', (1 << 20) + 10)}}"}""";
        var (code, reply) = await _daemon.SendAsync(HttpMethod.Post, "/1.0/instances", rawBody: huge);
        Assert.Equal(413, code);
        Assert.Contains("1,048,576", reply.GetProperty("error").GetString());
        Assert.Empty((await _daemon.GetAsync("/1.0/instances")).EnumerateArray());
    }

    [Fact]
    public async Task A_disk_reached_through_a_symbolic_link_out_of_the_disk_folder_is_refused()
    {
        string link = Path.Combine(_daemon.DiskRoot, "escape.img");
        File.CreateSymbolicLink(link, "/etc/hostname");
        var (code, reply) = await Create(new { name = "sneaky", disks = new[] { new { path = link } } });
        Assert.Equal(400, code);
        Assert.Contains("symbolic link", reply.GetProperty("error").GetString());
    }

    [Fact]
    public async Task Admission_takes_a_VM_that_fills_the_memory_limit_exactly_and_refuses_one_page_more_giving_the_numbers()
    {
        Assert.Equal(201, (await Create(new { name = "one", memory = "1024M" })).Status);
        var (over, refusal) = await Create(new { name = "two", memory = "524292K" }); // 512 MiB + one 4 KiB page
        Assert.Equal(409, over);
        Assert.Equal("instance 'two' does not fit on this host: needs 513 MiB; 1,024 of 1,536 MiB already allocated; 1,536 = (1,536 - 512) × 1.5",
            refusal.GetProperty("error").GetString());
        Assert.Equal(201, (await Create(new { name = "two", memory = "512M" })).Status);
        var host = await _daemon.GetAsync("/1.0/host");
        Assert.Equal(1536UL << 20, host.GetProperty("allocated").GetProperty("memory_bytes").GetUInt64());
        Assert.Equal(1536UL << 20, host.GetProperty("limits").GetProperty("memory_bytes").GetUInt64());
        // Growing a defined VM is admitted the same way.
        Assert.Equal(409, (await _daemon.SendAsync(HttpMethod.Patch, "/1.0/instances/two", new { memory = "516M" })).Status);
    }

    [Fact]
    public async Task Admission_refuses_more_vcpus_than_the_host_has_cores_and_more_than_cores_times_the_ratio()
    {
        var (code, reply) = await Create(new { name = "wide", vcpus = 3, memory = "64M" });
        Assert.Equal(409, code);
        Assert.Contains("3 vCPUs is more than this host's 2 cores", reply.GetProperty("error").GetString());
        for (int i = 0; i < 4; i++) Assert.Equal(201, (await Create(new { name = $"v{i}", vcpus = 2, memory = "64M" })).Status);
        var (ninth, why) = await Create(new { name = "v4", vcpus = 1, memory = "64M" });
        Assert.Equal(409, ninth);
        Assert.Contains("needs 1 vCPUs; 8 of 8 already allocated; 8 = 2 cores × 4", why.GetProperty("error").GetString());
    }

    [Fact]
    public async Task The_TCP_listener_needs_the_token_and_serves_the_certificate_whose_fingerprint_the_daemon_gives()
    {
        string fingerprint = await _daemon.FingerprintAsync();
        var url = new Uri($"https://127.0.0.1:{_daemon.TcpPort}");
        using (var noToken = DaemonHttp.TcpClient(url, "wrong-token", fingerprint))
        {
            using var response = await noToken.GetAsync("/1.0/instances");
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }
        using (var client = DaemonHttp.TcpClient(url, _daemon.Token, fingerprint))
        {
            using var response = await client.GetAsync("/1.0/instances");
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        }
        using var pinnedWrong = DaemonHttp.TcpClient(url, _daemon.Token, new string('0', 64));
        await Assert.ThrowsAsync<HttpRequestException>(() => pinnedWrong.GetAsync("/1.0/instances"));
        var mode = File.GetUnixFileMode(Path.Combine(_daemon.StateDirectory, "token"));
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite, mode);
        Assert.Equal(UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead | UnixFileMode.GroupWrite,
            File.GetUnixFileMode(_daemon.Socket));
    }

    [Fact]
    public async Task The_OpenAPI_document_and_the_metrics_describe_what_is_there()
    {
        using var openApi = JsonDocument.Parse(await _daemon.Http.GetStringAsync("/openapi.json"));
        var paths = openApi.RootElement.GetProperty("paths");
        foreach (var path in new[] { "/1.0/instances", "/1.0/instances/{name}/state", "/1.0/instances/{name}/snapshots", "/1.0/operations/{id}", "/1.0/host" })
            Assert.True(paths.TryGetProperty(path, out _), $"openapi.json lacks {path}");
        Assert.Equal(201, (await Create(new { name = "metered", vcpus = 2, memory = "300M" })).Status);
        string metrics = await _daemon.Http.GetStringAsync("/metrics");
        Assert.Contains("sharpvisor_instance_status{instance=\"metered\",status=\"stopped\"} 1", metrics);
        Assert.Contains("sharpvisor_instance_memory_bytes{instance=\"metered\"} 314572800", metrics);
        Assert.Contains("sharpvisor_host_allocated{resource=\"vcpus\"} 2", metrics);
    }

    [Fact]
    public async Task Definitions_survive_a_daemon_killed_with_SIGKILL()
    {
        Assert.Equal(201, (await Create(new { name = "kept", memory = "200M", restart_policy = "on-failure", autostart = false })).Status);
        _daemon.KillDaemonOnly();
        using var again = new DaemonProcess(_daemon.Root, "--host-memory", "1536M", "--host-cores", "2");
        var kept = await again.GetAsync("/1.0/instances/kept");
        Assert.Equal(200UL << 20, kept.GetProperty("memory_bytes").GetUInt64());
        Assert.Equal("on-failure", kept.GetProperty("restart_policy").GetString());
        Assert.Equal("stopped", kept.GetProperty("status").GetString());
    }

    [Fact]
    public async Task Actions_on_a_VM_in_the_wrong_state_get_409_and_unknown_ones_404()
    {
        Assert.Equal(201, (await Create(new { name = "idle", memory = "64M" })).Status);
        Assert.Equal(409, (await _daemon.SendAsync(HttpMethod.Put, "/1.0/instances/idle/state", new { action = "pause" })).Status);
        Assert.Equal(409, (await _daemon.SendAsync(HttpMethod.Put, "/1.0/instances/idle/state", new { action = "stop" })).Status);
        Assert.Equal(409, (await _daemon.SendAsync(HttpMethod.Post, "/1.0/instances/idle/snapshots", new { name = "s1" })).Status);
        Assert.Equal(400, (await _daemon.SendAsync(HttpMethod.Put, "/1.0/instances/idle/state", new { action = "explode" })).Status);
        Assert.Equal(404, (await _daemon.SendAsync(HttpMethod.Put, "/1.0/instances/nobody/state", new { action = "start" })).Status);
        Assert.Equal(409, (await Create(new { name = "idle", memory = "64M" })).Status);
    }
}
