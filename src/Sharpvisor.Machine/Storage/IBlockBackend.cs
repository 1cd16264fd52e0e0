namespace Sharpvisor.Machine.Storage;

/// <summary>
/// What a block device sees of its disk, whatever the image format: byte offsets into the guest-visible disk. Calls
/// come from one thread at a time (a device's I/O thread); failures are <see cref="IOException"/>s, which a device
/// turns into an I/O error for the guest.
/// </summary>
public interface IBlockBackend : IDisposable
{
    /// <summary>"raw" or "qcow2".</summary>
    string Format { get; }

    /// <summary>The guest-visible size in bytes.</summary>
    ulong VirtualSize { get; }

    bool ReadOnly { get; }

    /// <summary>Fills <paramref name="buffer"/> from <paramref name="offset"/>; the caller keeps it within the size.</summary>
    void Read(Span<byte> buffer, ulong offset);

    void Write(ReadOnlySpan<byte> data, ulong offset);

    /// <summary>Makes every completed write durable.</summary>
    void Flush();

    /// <summary>The range's contents may be dropped (the host gets the space back); it reads back unspecified.</summary>
    void Discard(ulong offset, ulong length);

    /// <summary>The range reads back as zeros, taking host space away where the format can.</summary>
    void WriteZeroes(ulong offset, ulong length);
}
