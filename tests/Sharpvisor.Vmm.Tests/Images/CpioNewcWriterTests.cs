using System.Text;
using Sharpvisor.Vmm.Images;

namespace Sharpvisor.Vmm.Tests.Images;

public sealed class CpioNewcWriterTests : IDisposable
{
    private const UnixFileMode Mode0755 = CpioNewcWriter.DefaultDirectoryMode;
    private const UnixFileMode Mode0644 = CpioNewcWriter.DefaultFileMode;
    private const UnixFileMode Mode0600 = UnixFileMode.UserRead | UnixFileMode.UserWrite;
    private const UnixFileMode Mode0750 = UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.UserExecute |
                                          UnixFileMode.GroupRead | UnixFileMode.GroupExecute;

    private readonly DirectoryInfo _temp = Directory.CreateTempSubdirectory("sharpvisor-cpio-test-");

    public void Dispose() => _temp.Delete(recursive: true);

    private sealed record Expected(string Name, char Kind, UnixFileMode Mode, byte[]? Content = null, string? Target = null);

    [Fact]
    public void Round_trip_through_debian_cpio_keeps_names_modes_contents_and_link_targets()
    {
        var random = new Random(1234);
        byte[] binary = new byte[5001];
        random.NextBytes(binary);
        var expected = new List<Expected>
        {
            new("etc", 'd', Mode0755),
            new("etc/hello.txt", 'f', Mode0644, "hello, initramfs\n"u8.ToArray()),
            new("bin", 'd', Mode0750),
            new("bin/tool", 'f', Mode0755, binary),
            new("bin/sh", 'l', Mode0755, Target: "tool"),
            new("a", 'f', Mode0600, "1"u8.ToArray()),
            new("ab", 'f', Mode0644, "22"u8.ToArray()),
            new("abc", 'f', Mode0644, "333"u8.ToArray()),
            new("abcd", 'f', Mode0644, "4444"u8.ToArray()),
            new("empty", 'f', Mode0644, []),
            new("absolute-link", 'l', Mode0755, Target: "/etc/hello.txt"),
            new("deep/nested/dir/file", 'f', Mode0644, Encoding.UTF8.GetBytes("parents come first")),
        };

        string archivePath = Path.Combine(_temp.FullName, "test.cpio");
        using (var writer = new CpioNewcWriter(File.Create(archivePath)) { Timestamp = new DateTimeOffset(2024, 5, 6, 7, 8, 9, TimeSpan.Zero) })
        {
            foreach (var entry in expected)
            {
                switch (entry.Kind)
                {
                    case 'd': writer.AddDirectory("/" + entry.Name, entry.Mode); break;
                    case 'f': writer.AddFile(entry.Name, entry.Content, entry.Mode); break;
                    case 'l': writer.AddSymlink(entry.Name, entry.Target!); break;
                }
            }
            writer.Finish();
        }

        var listing = HostTools.Run(HostTools.Cpio, ["-t", "--quiet", "-F", archivePath], null);
        Assert.True(listing.ExitCode == 0, listing.Error);
        string[] names = listing.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        string[] wantedNames = expected.Select(e => e.Name)
            .Concat(["deep", "deep/nested", "deep/nested/dir"]) // created by the writer before their file
            .Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(wantedNames, names.Order(StringComparer.Ordinal).ToArray());
        Assert.True(Array.IndexOf(names, "deep/nested/dir") < Array.IndexOf(names, "deep/nested/dir/file"));

        string extracted = Directory.CreateDirectory(Path.Combine(_temp.FullName, "out")).FullName;
        var extract = HostTools.Run(HostTools.Cpio,
            ["-i", "-d", "-m", "--quiet", "--no-absolute-filenames", "-F", archivePath], extracted);
        Assert.True(extract.ExitCode == 0, extract.Error);

        foreach (var entry in expected)
        {
            string path = Path.Combine(extracted, entry.Name);
            switch (entry.Kind)
            {
                case 'd':
                    Assert.True(Directory.Exists(path), entry.Name);
                    Assert.Equal(entry.Mode, File.GetUnixFileMode(path));
                    break;
                case 'f':
                    var info = new FileInfo(path);
                    Assert.True(info.Exists && info.LinkTarget is null, entry.Name);
                    Assert.Equal(entry.Content, File.ReadAllBytes(path));
                    Assert.Equal(entry.Mode, File.GetUnixFileMode(path));
                    Assert.Equal(new DateTime(2024, 5, 6, 7, 8, 9, DateTimeKind.Utc), info.LastWriteTimeUtc);
                    break;
                case 'l':
                    Assert.Equal(entry.Target, new FileInfo(path).LinkTarget);
                    break;
            }
        }
    }

    [Fact]
    public void Device_nodes_are_listed_by_debian_cpio_with_their_numbers()
    {
        string archivePath = Path.Combine(_temp.FullName, "dev.cpio");
        using (var writer = new CpioNewcWriter(File.Create(archivePath)))
        {
            writer.AddCharacterDevice("dev/console", 5, 1, Mode0600);
            writer.AddBlockDevice("dev/vda", 254, 0, UnixFileMode.UserRead | UnixFileMode.UserWrite | UnixFileMode.GroupRead);
            writer.Finish();
        }
        var listing = HostTools.Run(HostTools.Cpio, ["-t", "-v", "--quiet", "-F", archivePath], null);
        Assert.True(listing.ExitCode == 0, listing.Error);
        string[] lines = listing.Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.Equal(3, lines.Length);
        Assert.StartsWith("drwxr-xr-x", lines[0]);
        Assert.Matches(@"^crw------- .* 5,\s+1 .* dev/console$", lines[1]);
        Assert.Matches(@"^brw-r----- .* 254,\s+0 .* dev/vda$", lines[2]);
    }

    [Fact]
    public void Headers_and_data_are_four_byte_aligned_and_the_archive_ends_with_the_trailer()
    {
        var stream = new MemoryStream();
        using (var writer = new CpioNewcWriter(stream, leaveOpen: true))
        {
            writer.AddFile("x", "12345"u8);       // 110 + 2 name bytes -> padded to 112; 5 data bytes -> 8
            writer.AddSymlink("yy", "x");
            writer.Finish();
            Assert.Equal(2, writer.EntryCount);
            Assert.Equal(stream.Length, writer.BytesWritten);
        }
        byte[] archive = stream.ToArray();
        var entries = CpioTestReader.Read(archive);
        Assert.Equal(["x", "yy"], entries.Select(e => e.Name));
        Assert.Equal(0L, entries[0].HeaderOffset);
        Assert.Equal(120L, entries[1].HeaderOffset); // 112 + 8
        Assert.Equal(0x81A4u, entries[0].Mode);       // regular file, 0644
        Assert.Equal(0xA1FFu, entries[1].Mode);       // symlink, 0777
        Assert.Equal("x", entries[1].Text);
        string tail = Encoding.ASCII.GetString(archive, archive.Length - 16, 16);
        Assert.Contains("TRAILER!!!", tail);
        Assert.Equal(0, archive.Length % 4);
    }

    [Fact]
    public void Bad_names_and_duplicates_are_rejected()
    {
        using var writer = new CpioNewcWriter(new MemoryStream());
        writer.AddFile("etc/passwd", "root"u8);
        Assert.Throws<ArgumentException>(() => writer.AddFile("etc/passwd", "again"u8));
        Assert.Throws<ArgumentException>(() => writer.AddFile("etc/../x", "x"u8));
        Assert.Throws<ArgumentException>(() => writer.AddFile("/", "x"u8));
        Assert.Throws<ArgumentException>(() => writer.AddFile("etc/passwd/inside", "x"u8));
        writer.Finish();
        Assert.Throws<InvalidOperationException>(() => writer.AddDirectory("late"));
    }
}
