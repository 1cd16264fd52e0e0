using System.Runtime.InteropServices;
using Sharpvisor.Machine.Native;

namespace Sharpvisor.Engines.Kvm.Native;

/// <summary>ioctl calls that turn a failure into an <see cref="EngineException"/> naming the call and the errno.</summary>
internal static class KvmCalls
{
    public static unsafe int Ioctl(FileDescriptorHandle fd, nuint request, void* arg, string what)
    {
        int r = Libc.ioctl(fd.Fd, request, arg);
        if (r < 0) throw new EngineException($"KVM {what} failed: {Libc.LastErrorText()}");
        return r;
    }

    public static int Ioctl(FileDescriptorHandle fd, nuint request, nint arg, string what)
    {
        int r = Libc.ioctl(fd.Fd, request, arg);
        if (r < 0) throw new EngineException($"KVM {what} failed: {Libc.LastErrorText()}");
        return r;
    }

    public static int CheckExtension(FileDescriptorHandle fd, int capability) =>
        Math.Max(0, Libc.ioctl(fd.Fd, KvmIoctls.CheckExtension, capability));

    public static FileDescriptorHandle OpenDevice(string path)
    {
        int fd = Libc.open(path, Libc.ORdWr | Libc.OCloExec);
        if (fd < 0)
        {
            int errno = Marshal.GetLastPInvokeError();
            string why = errno switch
            {
                Libc.ErrnoNoEntry => $"{path} does not exist (no KVM in this kernel, or the module is not loaded)",
                Libc.ErrnoAccess => $"no permission to open {path} (run as root or join the kvm group)",
                _ => $"cannot open {path}: {Marshal.GetPInvokeErrorMessage(errno)} (errno {errno})",
            };
            throw new EngineException(why);
        }
        return new FileDescriptorHandle(fd);
    }
}
