using Sharpvisor.Machine.Native;

namespace Sharpvisor.Cli.Tests;

/// <summary>A descriptor this process opened (close-on-exec, as .NET opens its own) is not taken for an inherited stdin.</summary>
public sealed class InheritedDescriptorTests
{
    [Fact]
    public void Close_on_exec_descriptors_and_closed_ones_are_not_inherited_and_plain_ones_are()
    {
        string path = Path.GetTempFileName();
        try
        {
            using var own = File.OpenHandle(path);   // .NET opens with O_CLOEXEC
            Assert.False(InheritedDescriptor.IsInherited((int)own.DangerousGetHandle()));
            int plain = Libc.open(path, Libc.ORdOnly); // no O_CLOEXEC: what a parent hands down
            Assert.True(plain >= 0);
            try { Assert.True(InheritedDescriptor.IsInherited(plain)); }
            finally { Libc.close(plain); }
            Assert.False(InheritedDescriptor.IsInherited(plain)); // closed now
        }
        finally
        {
            File.Delete(path);
        }
    }
}
