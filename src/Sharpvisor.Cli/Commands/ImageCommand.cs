using System.CommandLine;
using Sharpvisor.Vmm.Images;

namespace Sharpvisor.Cli.Commands;

/// <summary>`sharpvisor image pull`: fetch and build the default guest image into the cache.</summary>
internal static class ImageCommand
{
    public static Command Create()
    {
        var pull = new Command("pull", "Fetch Debian's cloud kernel and busybox (apt-get download, dpkg -x: nothing is installed) and build the default initramfs.");
        pull.SetAction(_ =>
        {
            try
            {
                var image = DefaultGuestImage.EnsureAsync(new Progress<string>(line => Console.Error.WriteLine($"sharpvisor: {line}"))).GetAwaiter().GetResult();
                Console.WriteLine($"kernel  {image.KernelPath}");
                Console.WriteLine($"initrd  {image.InitrdPath}");
                Console.WriteLine($"version {image.KernelVersion}");
                return 0;
            }
            catch (Exception e)
            {
                Console.Error.WriteLine($"sharpvisor: cannot prepare the default guest image: {e.Message}");
                return ExitCodes.VmmError;
            }
        });
        var output = new Argument<string>("output") { Description = "Where to write the ext4 image." };
        var size = new Option<string>("--size") { Description = "Size of the image, e.g. 256M or 1G (a bare number is bytes, as for every disk size).", DefaultValueFactory = _ => "256M" };
        var rootfs = new Command("rootfs", """
            Build an ext4 root file system from the default guest's busybox tree (mkfs.ext4 -d, from e2fsprogs), for
            `sharpvisor run --disk OUTPUT --cmdline "console=ttyS0 root=/dev/vda"`.
            """) { output, size };
        rootfs.SetAction(parse =>
        {
            ulong bytes;
            try
            {
                bytes = Sharpvisor.Vmm.Configuration.MemorySize.Parse(parse.GetValue(size)!, Sharpvisor.Vmm.Configuration.MemorySize.Bytes);
            }
            catch (FormatException e)
            {
                Console.Error.WriteLine($"sharpvisor: {e.Message}");
                return ExitCodes.BadArguments;
            }
            try
            {
                var progress = new Progress<string>(line => Console.Error.WriteLine($"sharpvisor: {line}"));
                var image = DefaultGuestImage.EnsureAsync(progress).GetAwaiter().GetResult();
                string path = parse.GetValue(output)!;
                int files = RootFilesystemImage.BuildAsync(image, path, bytes, progress, CancellationToken.None).GetAwaiter().GetResult();
                Console.WriteLine($"rootfs  {Path.GetFullPath(path)} ({files} files, {bytes >> 20} MiB)");
                return 0;
            }
            catch (Exception e) when (e is GuestImageException or IOException or ArgumentException or UnauthorizedAccessException)
            {
                Console.Error.WriteLine($"sharpvisor: cannot build the root file system: {e.Message}");
                return ExitCodes.VmmError;
            }
        });
        return new Command("image", "Guest images and disk image files.") { pull, rootfs, ImageFileCommands.Create(), ImageFileCommands.Info(), ImageFileCommands.Convert() };
    }
}
