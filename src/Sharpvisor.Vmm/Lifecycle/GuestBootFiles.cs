using Microsoft.Win32.SafeHandles;
using Sharpvisor.Vmm.Configuration;

namespace Sharpvisor.Vmm.Lifecycle;

/// <summary>
/// The guest's kernel and initrd, kept open for the VM's life rather than in memory (15 MiB for the default guest):
/// each boot reads them again through the same handles, so a reboot boots the files the VM started with even if
/// their paths were replaced meanwhile.
/// </summary>
internal sealed class GuestBootFiles(VmConfig config) : IDisposable
{
    private SafeFileHandle? _kernel, _initrd;

    /// <summary>The files' bytes for one boot; an <see cref="IOException"/> or <see cref="UnauthorizedAccessException"/> when they cannot be read.</summary>
    public (byte[] Kernel, byte[] Initrd) Read()
    {
        _kernel ??= File.OpenHandle(config.KernelPath);
        if (config.InitrdPath is not null) _initrd ??= File.OpenHandle(config.InitrdPath);
        return (ReadWhole(_kernel), _initrd is null ? [] : ReadWhole(_initrd));
    }

    private static byte[] ReadWhole(SafeFileHandle file)
    {
        var bytes = new byte[checked((int)RandomAccess.GetLength(file))];
        for (int done = 0; done < bytes.Length;)
        {
            int read = RandomAccess.Read(file, bytes.AsSpan(done), done);
            if (read == 0) throw new IOException("the file got shorter while it was read");
            done += read;
        }
        return bytes;
    }

    public void Dispose()
    {
        _kernel?.Dispose();
        _initrd?.Dispose();
    }
}
