using Sharpvisor.Vmm.Images;
using Sharpvisor.Vmm.Snapshots;

namespace Sharpvisor.Host.Tests.Daemon;

/// <summary>
/// A daemon's VM with an ext4 disk through snapshots of its disk: a file written before each of two snapshots and
/// after; the later snapshot deleted while the VM runs (its layer merged by the VMM into the disk it writes); the
/// earlier one restored (the file reads as it was, from the disk: the guest's page cache dropped); a write after the
/// restore survives a stop and a fresh start (the VM boots on its overlay, not on the frozen disk), and is in the
/// disk's own file once the VM is deleted. qemu-img checks every layer clean, e2fsck the disk.
/// </summary>
public sealed class DaemonDiskSnapshotTests : IDisposable
{
    private static readonly TimeSpan Boot = TimeSpan.FromMinutes(4), Command = TimeSpan.FromSeconds(90);
    private readonly DaemonProcess _daemon = new();

    public void Dispose() => _daemon.Dispose();

    [SkippableFact]
    public async Task Snapshots_keep_the_disk_with_the_memory_through_delete_restore_and_a_new_boot()
    {
        QemuImg.Require();
        HostRequires.Tool("mkfs.ext4", "e2fsprogs");
        string disk = Path.Combine(_daemon.DiskRoot, "notes.raw");
        QemuImg.Ok("mkfs.ext4", "-q", "-F", disk, "32M");
        var (created, body) = await _daemon.SendAsync(HttpMethod.Post, "/1.0/instances",
            new { name = "notes", memory = "128M", engine = "emulator", disks = new[] { new { path = disk, format = "raw" } } });
        Assert.True(created == 201, body.ToString());
        await _daemon.StartAsync("notes");
        await _daemon.WaitForConsoleAsync("notes", DefaultGuestImage.ReadyLinePrefix, Boot);
        string layers = Path.Combine(_daemon.StateDirectory, "vms", "notes", "snapshots", SnapshotDiskLayers.FolderName);

        await Guest("mkdir -p /mnt && mount /dev/vda /mnt && echo one > /mnt/note && sync", 1);
        await Snapshot("s1");
        string diskAtS1 = Hash(disk);
        await Guest("echo two > /mnt/note && sync", 2);
        await Snapshot("s2");
        await Guest("echo three > /mnt/note && sync", 3);
        Assert.Equal(2, Directory.GetFiles(layers).Length);     // the top made at s1, frozen at s2 under a name of its own, and the top since

        var (deleted, reply) = await _daemon.SendAsync(HttpMethod.Delete, "/1.0/instances/notes/snapshots/s2");
        Assert.True(deleted == 200, reply.ToString());
        Assert.Single(Directory.GetFiles(layers));               // the layer merged into the top, which now rests on the disk
        Assert.Contains("three", await Guest("echo 3 > /proc/sys/vm/drop_caches && cat /mnt/note", 4));

        var restore = await _daemon.RunOperationAsync(HttpMethod.Post, "/1.0/instances/notes/snapshots/s1/restore", null, TimeSpan.FromMinutes(3));
        Assert.True(restore.GetProperty("status").GetString() == "success", restore.ToString());
        string atS1 = await Guest("echo 3 > /proc/sys/vm/drop_caches && cat /mnt/note", 5);
        Assert.Contains("one", atS1);
        Assert.DoesNotContain("three", atS1);
        await Guest("echo four > /mnt/note && sync", 6);

        var stop = await _daemon.RunOperationAsync(HttpMethod.Put, "/1.0/instances/notes/state", new { action = "stop", force = true }, TimeSpan.FromMinutes(2));
        Assert.Equal("success", stop.GetProperty("status").GetString());
        Assert.Equal(diskAtS1, Hash(disk));                      // frozen since s1
        foreach (string layer in Directory.GetFiles(layers)) QemuImg.Check(layer);

        await _daemon.StartAsync("notes");
        await _daemon.WaitForConsoleAsync("notes", DefaultGuestImage.ReadyLinePrefix, Boot);
        Assert.Contains("four", await Guest("mkdir -p /mnt && mount /dev/vda /mnt && cat /mnt/note && umount /mnt", 7));

        // Deleting the VM writes its overlay back into the disk it was given, which then holds the guest's last write.
        await _daemon.RunOperationAsync(HttpMethod.Put, "/1.0/instances/notes/state", new { action = "stop", force = true }, TimeSpan.FromMinutes(2));
        var (gone, why) = await _daemon.SendAsync(HttpMethod.Delete, "/1.0/instances/notes");
        Assert.True(gone == 200, why.ToString());
        Assert.Contains("four", QemuImg.Ok("debugfs", "-R", "cat /note", disk));
        QemuImg.Ok("e2fsck", "-f", "-n", disk);
    }

    private async Task Snapshot(string name)
    {
        var done = await _daemon.RunOperationAsync(HttpMethod.Post, "/1.0/instances/notes/snapshots", new { name }, TimeSpan.FromMinutes(3));
        Assert.True(done.GetProperty("status").GetString() == "success", done.ToString());
    }

    /// <summary>Runs a command on the console; returns what came back up to its marker, computed by the shell.</summary>
    private async Task<string> Guest(string command, int step)
    {
        using var console = await _daemon.OpenConsoleAsync("notes");
        string output = await DaemonProcess.TypeAsync(console, $"{command}; echo [$?]STEP-$((100+{step}))", $"]STEP-{100 + step}", Command);
        Assert.Contains($"[0]STEP-{100 + step}", output);
        return output;
    }

    private static string Hash(string path) => Convert.ToHexString(System.Security.Cryptography.SHA256.HashData(File.ReadAllBytes(path)));
}
