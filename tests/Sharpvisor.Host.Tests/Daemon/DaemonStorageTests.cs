using System.Security.Cryptography;
using System.Text.Json;
using Sharpvisor.Vmm.Images;

namespace Sharpvisor.Host.Tests.Daemon;

/// <summary>
/// The daemon's storage: the default pool and its volumes (create, resize, clone, delete, with refusals that name the
/// problem; a disk resting on a host file is refused), images imported from a file under the disk folders, and five
/// VMs created at once on one image, each on an overlay of its own: they boot together, read the image's file and
/// write their own, and the image stays as it was.
/// </summary>
public sealed class DaemonStorageTests : IDisposable
{
    private static readonly TimeSpan Boot = TimeSpan.FromMinutes(8), Command = TimeSpan.FromMinutes(2);
    private readonly DaemonProcess _daemon = new();

    public void Dispose() => _daemon.Dispose();

    private string Volumes => "/1.0/storage-pools/default/volumes";

    [SkippableFact]
    public async Task Volumes_are_created_resized_cloned_and_deleted_in_the_default_pool()
    {
        QemuImg.Require();
        var pool = Assert.Single((await _daemon.GetAsync("/1.0/storage-pools")).EnumerateArray());
        Assert.Equal("default", pool.GetProperty("name").GetString());
        Assert.Equal(Path.Combine(_daemon.StateDirectory, "disks"), pool.GetProperty("path").GetString());

        var raw = await Created(Volumes, new { name = "scratch.raw", size = "1M", format = "raw" });
        Assert.Equal(1UL << 20, raw.GetProperty("virtual_size").GetUInt64());
        var qcow2 = await Created(Volumes, new { name = "data.qcow2", size = "64M" });
        Assert.Equal("qcow2", qcow2.GetProperty("format").GetString());
        string data = qcow2.GetProperty("path").GetString()!;
        QemuImg.Ok("qemu-io", "-c", "write -P 0x5a 1M 3M", data);
        var clone = await Created(Volumes, new { name = "copy.qcow2", source = "data.qcow2" });
        QemuImg.Ok("qemu-img", "compare", data, clone.GetProperty("path").GetString()!);
        QemuImg.Check(clone.GetProperty("path").GetString()!);
        Assert.Equal(["copy.qcow2", "data.qcow2", "scratch.raw"],
            (await _daemon.GetAsync(Volumes)).EnumerateArray().Select(v => v.GetProperty("name").GetString()!).ToArray());

        var (grown, body) = await _daemon.SendAsync(HttpMethod.Patch, $"{Volumes}/scratch.raw", new { size = "2M" });
        Assert.True(grown == 200, body.ToString());
        Assert.Equal(2UL << 20, body.GetProperty("metadata").GetProperty("virtual_size").GetUInt64());
        await Refused(HttpMethod.Patch, $"{Volumes}/scratch.raw", new { size = "1M" }, 400, "can grow, not shrink");
        await Refused(HttpMethod.Patch, $"{Volumes}/data.qcow2", new { size = "1G" }, 400, "only raw volumes can be resized");
        await Refused(HttpMethod.Post, Volumes, new { name = "../escape.raw", size = "1M" }, 400, "must be 1-100 letters");
        await Refused(HttpMethod.Post, Volumes, new { name = "data.qcow2", size = "1M" }, 409, "has a volume named 'data.qcow2' already");
        await Refused(HttpMethod.Post, "/1.0/storage-pools/other/volumes", new { name = "x.raw", size = "1M" }, 404, "no storage pool named 'other'");
        Assert.Equal(200, (await _daemon.SendAsync(HttpMethod.Delete, $"{Volumes}/copy.qcow2")).Status);
        Assert.False(File.Exists(clone.GetProperty("path").GetString()));
        await Refused(HttpMethod.Delete, $"{Volumes}/copy.qcow2", null, 404, "no volume named 'copy.qcow2'");

        // The disk-path rule covers backing files: the guest would read them as well.
        string sneaky = Path.Combine(_daemon.DiskRoot, "sneaky.qcow2");
        Machine.Storage.Qcow2.Qcow2ImageCreator.Create(sneaky, 1 << 20, "/etc/passwd", "raw");
        await Refused(HttpMethod.Post, "/1.0/instances", new { name = "sneaky", memory = "128M", disks = new[] { new { path = sneaky } } },
            400, "rests on /etc/passwd, outside the folders");
    }

    [SkippableFact]
    public async Task Five_VMs_created_at_once_on_one_image_boot_on_overlays_of_their_own()
    {
        QemuImg.Require();
        HostRequires.Tool("mkfs.ext4", "e2fsprogs");
        string content = Path.Combine(_daemon.Root, "content");
        Directory.CreateDirectory(content);
        File.WriteAllText(Path.Combine(content, "greeting"), "from-the-image\n");
        string source = Path.Combine(_daemon.DiskRoot, "base.raw");
        QemuImg.Ok("mkfs.ext4", "-q", "-F", "-d", content, source, "64M");
        await Refused(HttpMethod.Post, "/1.0/images", new { name = "secret", source = "/etc/passwd" }, 400, "outside the folders");
        var image = await Created("/1.0/images", new { name = "base", source });
        string imagePath = image.GetProperty("path").GetString()!;
        string imageHash = Hash(imagePath);

        string[] names = Enumerable.Range(1, 5).Select(i => $"clone{i}").ToArray();
        var creates = await Task.WhenAll(names.Select(name => _daemon.SendAsync(HttpMethod.Post, "/1.0/instances",
            new { name, memory = "128M", engine = "emulator", image = "base" })));
        Assert.All(creates, c => Assert.True(c.Status == 201, c.Body.ToString()));
        var overlays = (await _daemon.GetAsync(Volumes)).EnumerateArray().Where(v => v.TryGetProperty("backing", out var b) && b.ValueKind == JsonValueKind.String).ToArray();
        Assert.Equal(names.Select(n => $"{n}-base.qcow2"), overlays.Select(v => v.GetProperty("name").GetString()!).Order());
        Assert.All(overlays, v => Assert.Equal(imagePath, v.GetProperty("backing").GetString()));
        Assert.All(overlays, v => Assert.True(v.GetProperty("actual_size").GetInt64() < 1 << 20, v.ToString()));   // an overlay, not a copy
        await Refused(HttpMethod.Delete, "/1.0/images/base", null, 409, "is the backing file of volume");
        await Refused(HttpMethod.Delete, $"{Volumes}/clone1-base.qcow2", null, 409, "is a disk of the VM 'clone1'");

        await Task.WhenAll(names.Select(async name =>
        {
            await _daemon.StartAsync(name);
            await _daemon.WaitForConsoleAsync(name, DefaultGuestImage.ReadyLinePrefix, Boot);
            using var console = await _daemon.OpenConsoleAsync(name);
            string output = await DaemonProcess.TypeAsync(console,
                $"mkdir -p /mnt && mount /dev/vda /mnt && cat /mnt/greeting && echo {name} > /mnt/owner && umount /mnt; echo [$?]DONE-$((40+2))", "]DONE-42", Command);
            Assert.Contains("from-the-image", output);
            Assert.Contains("[0]DONE-42", output);
        }));
        foreach (string name in names)
            Assert.Equal("success", (await _daemon.RunOperationAsync(HttpMethod.Put, $"/1.0/instances/{name}/state", new { action = "stop", force = true }, Command)).GetProperty("status").GetString());
        Assert.Equal(imageHash, Hash(imagePath));
        foreach (var overlay in overlays) QemuImg.Check(overlay.GetProperty("path").GetString()!);
    }

    private async Task<JsonElement> Created(string path, object body)
    {
        var (status, reply) = await _daemon.SendAsync(HttpMethod.Post, path, body);
        Assert.True(status == 201, $"POST {path}: {status} {reply}");
        return reply.GetProperty("metadata");
    }

    private async Task Refused(HttpMethod method, string path, object? body, int status, string why)
    {
        var (got, reply) = await _daemon.SendAsync(method, path, body);
        Assert.True(got == status, $"{method} {path}: {got} {reply}");
        Assert.Contains(why, reply.GetProperty("error").GetString());
    }

    private static string Hash(string path) => Convert.ToHexString(SHA256.HashData(File.ReadAllBytes(path)));
}
