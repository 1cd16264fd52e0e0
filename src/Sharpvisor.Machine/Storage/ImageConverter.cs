using Sharpvisor.Machine.Storage.Qcow2;

namespace Sharpvisor.Machine.Storage;

/// <summary>
/// `image convert`: what a guest sees of an image (its whole backing chain) copied into a new, self-contained image,
/// raw (sparse: zero clusters stay holes) or qcow2 (zero clusters stay unallocated; optionally deflate-compressed).
/// The new image is written beside the destination under a temporary name and renamed over it once complete and
/// durable, so a failure leaves the destination as it was.
/// </summary>
public static class ImageConverter
{
    public const int ChunkBytes = 1 << 16;            // the unit of zero detection: a qcow2 cluster of the new image
    private const int ReadBytes = 16 * ChunkBytes;

    /// <returns>Chunks written (not zero).</returns>
    public static long Convert(string source, string? sourceFormat, string destination, string format, bool compress)
    {
        if (format is not ("raw" or "qcow2")) throw new ArgumentException($"output format '{format}' is not raw or qcow2", nameof(format));
        if (compress && format != "qcow2") throw new ArgumentException("compression (-c) needs -O qcow2", nameof(compress));
        using var input = BlockBackendOpener.Open(source, readOnly: true, sourceFormat);
        string fullDestination = Path.GetFullPath(destination);
        foreach (var image in BlockImageInfo.Chain(source, sourceFormat))
            if (Path.GetFullPath(image.Path) == fullDestination)
                throw new ArgumentException($"the destination {destination} is an image the source reads ({image.Path})");

        string temporary = Path.Combine(Path.GetDirectoryName(fullDestination) ?? "/", $".{Path.GetFileName(fullDestination)}.{Environment.ProcessId}.converting");
        try
        {
            long written = format == "raw" ? ToRaw(input, temporary) : ToQcow2(input, temporary, compress);
            File.Move(temporary, fullDestination, overwrite: true);
            return written;
        }
        finally
        {
            File.Delete(temporary);
        }
    }

    private static long ToRaw(IBlockBackend input, string path)
    {
        using (var create = new FileStream(path, FileMode.CreateNew, FileAccess.Write)) create.SetLength((long)input.VirtualSize);
        using var output = new RawBlockBackend(path, readOnly: false);
        long written = Copy(input, (data, offset) => output.Write(data, offset));
        output.Flush();
        return written;
    }

    private static long ToQcow2(IBlockBackend input, string path, bool compress)
    {
        Qcow2ImageCreator.Create(path, input.VirtualSize);
        using var output = Qcow2BlockBackend.Open(path, readOnly: false);
        long written = compress
            ? Copy(input, (data, offset) => output.WriteCompressed(data, offset))
            : Copy(input, (data, offset) => output.Write(data, offset));
        output.Flush();
        return written;
    }

    private delegate void ChunkWriter(ReadOnlySpan<byte> data, ulong offset);

    /// <summary>Reads the input in large pieces and hands every chunk that is not all zeros to the writer.</summary>
    private static long Copy(IBlockBackend input, ChunkWriter write)
    {
        var buffer = new byte[ReadBytes];
        long written = 0;
        for (ulong at = 0; at < input.VirtualSize; at += ReadBytes)
        {
            int n = (int)Math.Min(ReadBytes, input.VirtualSize - at);
            input.Read(buffer.AsSpan(0, n), at);
            for (int chunk = 0; chunk < n; chunk += ChunkBytes)
            {
                var data = buffer.AsSpan(chunk, Math.Min(ChunkBytes, n - chunk));
                if (data.IndexOfAnyExcept((byte)0) < 0) continue;
                write(data, at + (ulong)chunk);
                written++;
            }
        }
        return written;
    }
}
