using System.Runtime.InteropServices;

namespace Sharpvisor.Machine.Storage.Qcow2;

/// <summary>
/// Compresses a cluster the way qcow2 compression type 0 expects: raw deflate with a 4 KiB window (QEMU inflates with
/// window bits 12, so a stream whose matches reach further back would not read there). .NET's DeflateStream always uses
/// a 32 KiB window, hence the system zlib (Debian's zlib1g, a required package) through its own entry points.
/// One stream, reset per cluster.
/// </summary>
internal sealed unsafe partial class Qcow2DeflateCompressor : IDisposable
{
    private const int ZOk = 0, ZStreamEnd = 1, ZFinish = 4, ZDeflated = 8, ZDefaultCompression = -1, ZDefaultStrategy = 0;
    private const int WindowBits = -12, MemoryLevel = 9;

    /// <summary>zlib's z_stream on LP64 (112 bytes).</summary>
    [StructLayout(LayoutKind.Sequential)]
    private struct ZStream
    {
        public byte* NextIn;
        public uint AvailIn;
        public nuint TotalIn;
        public byte* NextOut;
        public uint AvailOut;
        public nuint TotalOut;
        public nint Message, State, Alloc, Free, Opaque;
        public int DataType;
        public nuint Adler, Reserved;
    }

    [LibraryImport("libz.so.1", EntryPoint = "deflateInit2_", StringMarshalling = StringMarshalling.Utf8)]
    private static partial int DeflateInit2(ZStream* stream, int level, int method, int windowBits, int memLevel, int strategy, string version, int streamSize);

    [LibraryImport("libz.so.1", EntryPoint = "deflate")]
    private static partial int Deflate(ZStream* stream, int flush);

    [LibraryImport("libz.so.1", EntryPoint = "deflateReset")]
    private static partial int DeflateReset(ZStream* stream);

    [LibraryImport("libz.so.1", EntryPoint = "deflateEnd")]
    private static partial int DeflateEnd(ZStream* stream);

    private readonly ZStream* _stream = (ZStream*)NativeMemory.AllocZeroed((nuint)sizeof(ZStream));
    private bool _disposed;

    public Qcow2DeflateCompressor()
    {
        // zlib checks only the major version digit of the string it is given.
        int result = DeflateInit2(_stream, ZDefaultCompression, ZDeflated, WindowBits, MemoryLevel, ZDefaultStrategy, "1.2.13", sizeof(ZStream));
        if (result != ZOk)
        {
            NativeMemory.Free(_stream);
            throw new IOException($"zlib: deflateInit2 failed ({result})");
        }
    }

    /// <summary>The compressed length in <paramref name="output"/>, or -1 when the result would not fit it (no gain).</summary>
    public int Compress(ReadOnlySpan<byte> input, Span<byte> output)
    {
        ObjectDisposedException.ThrowIf(_disposed, this);
        if (DeflateReset(_stream) != ZOk) throw new IOException("zlib: deflateReset failed");
        fixed (byte* inPtr = input)
        fixed (byte* outPtr = output)
        {
            _stream->NextIn = inPtr;
            _stream->AvailIn = (uint)input.Length;
            _stream->NextOut = outPtr;
            _stream->AvailOut = (uint)output.Length;
            int result = Deflate(_stream, ZFinish);
            int written = (int)(_stream->NextOut - outPtr);
            _stream->NextIn = null;
            _stream->NextOut = null;
            return result == ZStreamEnd ? written : -1;     // Z_OK or Z_BUF_ERROR: the output filled up first
        }
    }

    public void Dispose()
    {
        if (_disposed) return;
        _disposed = true;
        DeflateEnd(_stream);
        NativeMemory.Free(_stream);
    }
}
