using Sharpvisor.Machine.Buses;

namespace Sharpvisor.Engines.Emulator.Tests.Memory;

/// <summary>A bus device that remembers the offsets it was accessed at and reads back <c>Fill</c> in every byte.</summary>
internal sealed class RecordingDevice(byte fill) : IBusDevice
{
    public List<ulong> Reads { get; } = [];
    public List<(ulong Offset, byte[] Data)> Writes { get; } = [];

    public void Read(ulong offset, Span<byte> data)
    {
        Reads.Add(offset);
        data.Fill(fill);
    }

    public void Write(ulong offset, ReadOnlySpan<byte> data) => Writes.Add((offset, data.ToArray()));
}
