using Sharpvisor.Machine.Storage.Qcow2;

namespace Sharpvisor.Machine.Storage;

/// <summary>Opens a disk image as its format: qcow2 when it starts with the qcow2 magic, raw otherwise.</summary>
public static class BlockBackendOpener
{
    /// <param name="format">"raw" or "qcow2" to skip probing (the user's word, a backing file's declared format); null probes.</param>
    public static IBlockBackend Open(string path, bool readOnly, string? format = null, int depth = 0) =>
        (format ?? Probe(path)) switch
        {
            "qcow2" => Qcow2BlockBackend.Open(path, readOnly, depth),
            "raw" => new RawBlockBackend(path, readOnly, formatWasProbed: format is null),
            var other => throw new IOException($"{path}: unsupported image format '{other}'"),
        };

    /// <summary>"qcow2" or "raw", from the first four bytes.</summary>
    public static string Probe(string path)
    {
        Span<byte> magic = stackalloc byte[4];
        using var file = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        int got = RandomAccess.Read(file, magic, 0);
        return got == 4 && Qcow2Header.HasMagic(magic) ? "qcow2" : "raw";
    }
}
