using System.Text;
using Sharpvisor.Vmm.Images;

namespace Sharpvisor.Vmm.Tests.Images;

public sealed class CpioNewcReaderTests : IDisposable
{
    private readonly string _directory = Directory.CreateTempSubdirectory("sharpvisor-cpio-").FullName;

    public void Dispose() => Directory.Delete(_directory, recursive: true);

    [Fact]
    public void Unpacks_what_the_writer_packs_but_device_nodes()
    {
        var archive = new MemoryStream();
        int entries;
        using (var writer = new CpioNewcWriter(archive, leaveOpen: true))
        {
            writer.AddDirectory("bin");
            writer.AddFile("bin/tool", "#!/bin/sh\necho hi\n"u8, CpioNewcWriter.ExecutableFileMode);
            writer.AddSymlink("bin/alias", "/bin/tool");
            writer.AddCharacterDevice("dev/console", 5, 1, UnixFileMode.UserRead | UnixFileMode.UserWrite);
            writer.AddFile("etc/odd", "x"u8);                          // 1 byte: exercises the padding
            writer.Finish();
            entries = writer.EntryCount;
        }
        archive.Position = 0;
        string root = Path.Combine(_directory, "root");
        Assert.Equal(entries - 1, CpioNewcReader.ExtractTo(archive, root));   // all but the device node
        Assert.Equal("#!/bin/sh\necho hi\n", File.ReadAllText(Path.Combine(root, "bin/tool")));
        Assert.True(File.GetUnixFileMode(Path.Combine(root, "bin/tool")).HasFlag(UnixFileMode.UserExecute));
        Assert.Equal("/bin/tool", new FileInfo(Path.Combine(root, "bin/alias")).LinkTarget);
        Assert.Equal("x", File.ReadAllText(Path.Combine(root, "etc/odd")));
        Assert.False(File.Exists(Path.Combine(root, "dev/console")));
    }

    [Fact]
    public void Refuses_entries_that_leave_the_folder_and_truncated_archives()
    {
        // The writer refuses such names, so the entry is built by hand: a newc header, the name, the data.
        var archive = new MemoryStream();
        void Entry(string name, uint mode, string data)
        {
            string header = "070701" + string.Concat(new uint[] { 1, mode, 0, 0, 1, 0, (uint)data.Length, 0, 0, 0, 0, (uint)name.Length + 1, 0 }.Select(v => v.ToString("X8")));
            var bytes = new List<byte>(Encoding.ASCII.GetBytes(header + name + "\0"));
            while (bytes.Count % 4 != 0) bytes.Add(0);
            bytes.AddRange(Encoding.ASCII.GetBytes(data));
            while (bytes.Count % 4 != 0) bytes.Add(0);
            archive.Write(bytes.ToArray());
        }
        Entry("../escape", 0x81A4, "x");
        Entry("TRAILER!!!", 0, "");
        archive.Position = 0;
        Assert.Throws<GuestImageException>(() => CpioNewcReader.ExtractTo(archive, Path.Combine(_directory, "a")));
        var truncated = new MemoryStream(Encoding.ASCII.GetBytes("070701000000"));
        Assert.Throws<GuestImageException>(() => CpioNewcReader.ExtractTo(truncated, Path.Combine(_directory, "b")));
    }
}
