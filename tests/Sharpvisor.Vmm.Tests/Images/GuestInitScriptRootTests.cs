using System.Diagnostics;
using Sharpvisor.Vmm.Images;

namespace Sharpvisor.Vmm.Tests.Images;

/// <summary>/init's root=/dev/vdX path: in the initramfs it mounts the disk and switches to it; on the disk it skips that.</summary>
public sealed class GuestInitScriptRootTests
{
    private static readonly string Script = GuestInitScript.Generate("6.1.0-28-cloud-amd64", ["kernel/drivers/block/virtio_blk.ko"]);

    [Fact]
    public void Modules_and_root_switch_run_only_outside_a_root_file_system()
    {
        string[] lines = Script.Split('\n').Select(l => l.Trim()).ToArray();
        int guard = Array.LastIndexOf(lines, $"if [ ! -e {GuestInitScript.RootFilesystemMarker} ]; then");
        int load = Array.IndexOf(lines, "load kernel/drivers/block/virtio_blk.ko");
        int mount = Array.FindIndex(lines, l => l.StartsWith("if mount -t ext4 \"$root\" /newroot"));
        int switchRoot = Array.IndexOf(lines, "exec switch_root /newroot /init");
        int ready = Array.FindIndex(lines, l => l.StartsWith("echo \"SHARPVISOR-READY"));
        Assert.True(guard >= 0 && guard < load && load < mount && mount < switchRoot && switchRoot < ready,
            $"guard {guard}, load {load}, mount {mount}, switch_root {switchRoot}, ready {ready}");
        Assert.Contains("case \"$word\" in root=/dev/*) root=\"${word#root=}\" ;; esac", Script);
    }

    [Fact]
    public void Script_is_valid_shell()
    {
        string path = Path.GetTempFileName();
        try
        {
            File.WriteAllText(path, Script);
            using var process = Process.Start(new ProcessStartInfo("sh", ["-n", path]) { RedirectStandardError = true })!;
            string errors = process.StandardError.ReadToEnd();
            process.WaitForExit();
            Assert.True(process.ExitCode == 0, errors);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
