using System.Runtime.InteropServices;

namespace Sharpvisor.Engines.Kvm.Native;

/// <summary>An owned file descriptor (/dev/kvm, a VM or a vCPU).</summary>
public sealed class FileDescriptorHandle : SafeHandle
{
    public FileDescriptorHandle(int fd) : base(-1, ownsHandle: true) => SetHandle(fd);

    public override bool IsInvalid => handle < 0;
    public int Fd => (int)handle;

    protected override bool ReleaseHandle() => KvmSyscalls.close((int)handle) == 0;
}
