using Sharpvisor.Host.Confinement;

namespace Sharpvisor.Host.Tests.Confinement;

/// <summary>
/// This test assembly's entry point (the test SDK's generated one is turned off): `dotnet Sharpvisor.Host.Tests.dll
/// start-detached CGROUP_PARENT JAIL_BASE NAME VM_DIR UID` plays a daemon that launches one VMM (`sleep 600`), prints
/// "PID CGROUP_PATH" and exits at once, so a test can check that the VMM outlives the process that started it.
/// </summary>
public static class DetachedStarter
{
    public static int Main(string[] args)
    {
        if (args is not ["start-detached", var parent, var jailBase, var name, var directory, var uidText])
        {
            Console.Error.WriteLine("usage: start-detached CGROUP_PARENT JAIL_BASE NAME VM_DIR UID");
            return 2;
        }
        int uid = int.Parse(uidText);
        var launcher = new VmmLauncher(CgroupLayout.Detect(parent), jailBase);
        var vmm = launcher.Launch(new VmmLaunchSpec
        {
            Name = name, VmDirectory = directory, Argv = ["/bin/sleep", "600"], LogFile = Path.Combine(directory, "vmm.log"),
            Identity = new VmmIdentity(uid, uid), Limits = new VmmResourceLimits(1, 64L << 20, 64),
        });
        Console.WriteLine($"{vmm.Pid} {vmm.CgroupPath}");
        return 0;
    }
}
