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
        return new Command("image", "Guest images.") { pull };
    }
}
