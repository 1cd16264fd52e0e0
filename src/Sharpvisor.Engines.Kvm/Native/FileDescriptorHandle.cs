using System.Runtime.InteropServices;
using Sharpvisor.Machine.Native;

namespace Sharpvisor.Engines.Kvm.Native;

/// <summary>An owned file descriptor (/dev/kvm, a VM or a vCPU).</summary>
public sealed class FileDescriptorHandle : SafeHandle
{
    public FileDescriptorHandle(int fd) : base(-1, ownsHandle: true) => SetHandle(fd);

    public override bool IsInvalid => handle < 0;
    public int Fd => (int)handle;

    protected override bool ReleaseHandle() => Libc.close((int)handle) == 0;
}
