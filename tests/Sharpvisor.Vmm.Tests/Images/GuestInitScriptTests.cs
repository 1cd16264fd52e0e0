using Sharpvisor.Vmm.Images;

namespace Sharpvisor.Vmm.Tests.Images;

public sealed class GuestInitScriptTests
{
    [Fact]
    public void Script_mounts_loads_modules_in_order_prints_ready_line_then_shell_then_poweroff()
    {
        string script = GuestInitScript.Generate("6.1.0-28-cloud-amd64",
            ["kernel/drivers/virtio/virtio_ring.ko", "kernel/drivers/virtio/virtio.ko", "kernel/drivers/block/virtio_blk.ko"]);
        string[] lines = script.Split('\n');

        Assert.Equal("#!/bin/busybox sh", lines[0]);
        int Line(string text)
        {
            int index = Array.FindIndex(lines, l => l.Trim() == text);
            Assert.True(index >= 0, $"missing line: {text}");
            return index;
        }
        int proc = Line("/bin/busybox mount -t proc proc /proc");
        int sys = Line("mount -t sysfs sysfs /sys");
        int dev = Line("mount -t devtmpfs devtmpfs /dev");
        int ring = Line("load kernel/drivers/virtio/virtio_ring.ko");
        int virtio = Line("load kernel/drivers/virtio/virtio.ko");
        int blk = Line("load kernel/drivers/block/virtio_blk.ko");
        int ready = Line("echo \"SHARPVISOR-READY $uptime\"");
        int shell = Line("setsid cttyhack sh &");
        int poweroff = Line("poweroff -f");
        Assert.True(proc < sys && sys < dev && dev < ring && ring < virtio && virtio < blk && blk < ready &&
                    ready < shell && shell < poweroff);
        Assert.Contains("release=6.1.0-28-cloud-amd64\n", script);
        Assert.Contains("insmod \"/lib/modules/$release/$1\" || echo", script);
        Assert.Contains("read -r uptime idle < /proc/uptime", script);
    }

    [Fact]
    public void Power_button_and_Ctrl_Alt_Del_are_handled_before_the_ready_line()
    {
        string script = GuestInitScript.Generate("6.1.0-28-cloud-amd64", ["kernel/drivers/acpi/button.ko"]);
        int At(string text)
        {
            int index = script.IndexOf(text, StringComparison.Ordinal);
            Assert.True(index >= 0, $"missing: {text}");
            return index;
        }
        int button = At("load kernel/drivers/acpi/button.ko");
        int cad = At("echo 0 > /proc/sys/kernel/ctrl-alt-del");
        int acpid = At("if acpid -p /run/acpid.pid -l /var/log/acpid.log; then");
        int waitPid = At("[ -e /run/acpid.pid ] && break");
        int ready = At("echo \"SHARPVISOR-READY $uptime\"");
        int trapInt = At($"trap 'echo \"{GuestInitScript.CtrlAltDelLine}\"; sync; reboot -f' INT");
        int shell = At("setsid cttyhack sh &");
        // The trap is set before the ready line: a SIGINT to PID 1 without a handler is dropped by the kernel.
        Assert.True(button < cad && cad < acpid && acpid < waitPid && waitPid < trapInt && trapInt < ready && ready < shell);

        string action = GuestInitScript.PowerButtonScript;
        Assert.StartsWith("#!/bin/sh\n", action);
        Assert.Contains($"echo \"{GuestInitScript.PowerButtonLine}\" > /dev/console\npoweroff\n", action);
        Assert.Equal("/etc/acpi/PWRF/00000080", GuestInitScript.PowerButtonAction);   // busybox acpid's name for KEY_POWER
    }

    [Fact]
    public void Words_the_script_cannot_quote_are_refused()
    {
        Assert.Throws<ArgumentException>(() => GuestInitScript.Generate("6.1; rm -rf /", []));
        Assert.Throws<ArgumentException>(() => GuestInitScript.Generate("6.1.0", ["kernel/a b.ko"]));
        Assert.Throws<ArgumentException>(() => GuestInitScript.Generate("6.1.0", ["kernel/$(reboot).ko"]));
    }
}
