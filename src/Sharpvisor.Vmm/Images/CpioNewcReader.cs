using System.Globalization;
using System.IO.Compression;
using System.Text;

namespace Sharpvisor.Vmm.Images;

/// <summary>
/// Unpacks a newc cpio archive (optionally gzip'd), as <see cref="CpioNewcWriter"/> writes them, into a folder:
/// directories, regular files with their permission bits, and symbolic links. Device nodes are skipped (a root file
/// system gets its /dev from devtmpfs). Paths that would leave the folder are refused.
/// </summary>
public static class CpioNewcReader
{
    private const int HeaderLength = 110;
    private const uint TypeMask = 0xF000, TypeDirectory = 0x4000, TypeRegular = 0x8000, TypeSymlink = 0xA000;

    /// <summary>Unpacks <paramref name="archivePath"/> into <paramref name="directory"/>; returns the number of entries written.</summary>
    public static int ExtractTo(string archivePath, string directory)
    {
        using var file = File.OpenRead(archivePath);
        Span<byte> magic = stackalloc byte[2];
        file.ReadExactly(magic);
        file.Position = 0;
        using Stream input = magic[0] == 0x1F && magic[1] == 0x8B ? new GZipStream(file, CompressionMode.Decompress) : file;
        return ExtractTo(input, directory);
    }

    public static int ExtractTo(Stream input, string directory)
    {
        string root = Path.GetFullPath(directory);
        Directory.CreateDirectory(root);
        var header = new byte[HeaderLength];
        long position = 0;
        int written = 0;
        while (true)
        {
            ReadExactly(input, header, ref position);
            if (Encoding.ASCII.GetString(header, 0, 6) is not ("070701" or "070702"))
                throw new GuestImageException($"not a newc cpio archive (bad magic at byte {position - HeaderLength})");
            uint mode = Field(header, 1);
            long size = Field(header, 6);
            int nameSize = (int)Field(header, 11);
            var nameBytes = new byte[nameSize];
            ReadExactly(input, nameBytes, ref position);
            Skip(input, Pad(position), ref position);
            string name = Encoding.UTF8.GetString(nameBytes, 0, Math.Max(0, nameSize - 1));
            if (name == CpioNewcWriter.TrailerName) return written;
            var data = new byte[size];
            ReadExactly(input, data, ref position);
            Skip(input, Pad(position), ref position);

            string relative = name.TrimStart('/');
            if (relative is "" or ".") continue;
            string target = Path.GetFullPath(Path.Combine(root, relative));
            if (!target.StartsWith(root + Path.DirectorySeparatorChar, StringComparison.Ordinal))
                throw new GuestImageException($"cpio entry '{name}' points outside the folder");
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            var permissions = (UnixFileMode)(mode & 0xFFF);
            switch (mode & TypeMask)
            {
                case TypeDirectory:
                    Directory.CreateDirectory(target);
                    File.SetUnixFileMode(target, permissions);
                    break;
                case TypeRegular:
                    File.WriteAllBytes(target, data);
                    File.SetUnixFileMode(target, permissions);
                    break;
                case TypeSymlink:
                    File.CreateSymbolicLink(target, Encoding.UTF8.GetString(data));
                    break;
                default:
                    continue;   // device nodes, fifos, sockets
            }
            written++;
        }
    }

    private static uint Field(byte[] header, int index) =>
        uint.Parse(Encoding.ASCII.GetString(header, 6 + 8 * index, 8), NumberStyles.HexNumber, CultureInfo.InvariantCulture);

    private static int Pad(long position) => (int)((4 - position % 4) % 4);

    private static void ReadExactly(Stream input, byte[] buffer, ref long position)
    {
        try
        {
            input.ReadExactly(buffer);
        }
        catch (EndOfStreamException)
        {
            throw new GuestImageException($"cpio archive ends early at byte {position}");
        }
        position += buffer.Length;
    }

    private static void Skip(Stream input, int count, ref long position)
    {
        if (count == 0) return;
        ReadExactly(input, new byte[count], ref position);
    }
}
