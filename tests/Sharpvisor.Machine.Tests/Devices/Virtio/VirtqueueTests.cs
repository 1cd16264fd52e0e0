using Sharpvisor.Machine.Devices.Virtio;
using Sharpvisor.Machine.Memory;

namespace Sharpvisor.Machine.Tests.Devices.Virtio;

/// <summary>The split virtqueue against guest memory the test writes as a driver would.</summary>
public sealed class VirtqueueTests : IDisposable
{
    private const ulong Desc = 0x1000, Avail = 0x2000, Used = 0x3000, Data = 0x10000;
    private const ushort Size = 8;
    private readonly GuestMemory _memory = new([(0UL, 1UL << 20)]);
    private readonly Virtqueue _queue;

    public VirtqueueTests()
    {
        _queue = new Virtqueue(_memory, 0, 16)
        {
            Size = Size, DescriptorTableAddress = Desc, AvailableRingAddress = Avail, UsedRingAddress = Used,
            Enabled = true, IndirectDescriptors = true,
        };
        Assert.Null(_queue.Validate());
    }

    public void Dispose() => _memory.Dispose();

    private void Descriptor(ulong table, int index, ulong address, uint length, ushort flags, ushort next = 0)
    {
        ulong at = table + 16UL * (ulong)index;
        _memory.WriteUInt64(at, address);
        _memory.WriteUInt32(at + 8, length);
        _memory.WriteUInt16(at + 12, flags);
        _memory.WriteUInt16(at + 14, next);
    }

    private void MakeAvailable(ushort availIndex, params ushort[] heads)
    {
        for (int i = 0; i < heads.Length; i++)
            _memory.WriteUInt16(Avail + 4 + 2UL * (ulong)((availIndex + i) % Size), heads[i]);
        _memory.WriteUInt16(Avail + 2, (ushort)(availIndex + heads.Length));
    }

    [Fact]
    public void Pops_a_chain_with_readable_then_writable_buffers_and_publishes_the_used_element()
    {
        Descriptor(Desc, 3, Data, 16, Virtqueue.DescriptorNext, 5);
        Descriptor(Desc, 5, Data + 0x100, 100, Virtqueue.DescriptorNext | Virtqueue.DescriptorWrite, 6);
        Descriptor(Desc, 6, Data + 0x200, 1, Virtqueue.DescriptorWrite);
        MakeAvailable(0, 3);

        Assert.True(_queue.HasAvailable());
        var chain = _queue.Pop();
        Assert.NotNull(chain);
        Assert.Equal(3, chain.Head);
        Assert.Equal(3, chain.Count);
        Assert.Equal(1, chain.FirstWritable);
        Assert.Equal(16UL, chain.ReadableLength);
        Assert.Equal(101UL, chain.WritableLength);
        Assert.Null(_queue.Pop());

        _queue.PushUsed(chain.Head, 101);
        Assert.Equal(1, _memory.ReadUInt16(Used + 2));
        Assert.Equal(3u, _memory.ReadUInt32(Used + 4));
        Assert.Equal(101u, _memory.ReadUInt32(Used + 8));
    }

    [Fact]
    public void Chain_reads_and_writes_span_buffer_boundaries()
    {
        _memory.Write(Data, "abcd"u8);
        _memory.Write(Data + 0x100, "efgh"u8);
        Descriptor(Desc, 0, Data, 4, Virtqueue.DescriptorNext, 1);
        Descriptor(Desc, 1, Data + 0x100, 4, Virtqueue.DescriptorNext, 2);
        Descriptor(Desc, 2, Data + 0x200, 3, Virtqueue.DescriptorWrite | Virtqueue.DescriptorNext, 3);
        Descriptor(Desc, 3, Data + 0x300, 3, Virtqueue.DescriptorWrite);
        MakeAvailable(0, 0);
        var chain = _queue.Pop()!;
        Span<byte> read = stackalloc byte[6];
        Assert.Equal(6, chain.Read(1, read));
        Assert.Equal("bcdefg"u8.ToArray(), read.ToArray());
        Assert.Equal(5, chain.Write(1, "123456"u8));
        Assert.Equal("12"u8.ToArray(), _memory.GetSpan(Data + 0x201, 2).ToArray());
        Assert.Equal("345"u8.ToArray(), _memory.GetSpan(Data + 0x300, 3).ToArray());
    }

    [Fact]
    public void Follows_an_indirect_table()
    {
        const ulong table = 0x8000;
        Descriptor(table, 0, Data, 16, Virtqueue.DescriptorNext, 2);
        Descriptor(table, 2, Data + 0x40, 512, Virtqueue.DescriptorNext | Virtqueue.DescriptorWrite, 1);
        Descriptor(table, 1, Data + 0x400, 1, Virtqueue.DescriptorWrite);
        Descriptor(Desc, 4, table, 48, Virtqueue.DescriptorIndirect);
        MakeAvailable(0, 4);
        var chain = _queue.Pop()!;
        Assert.Equal(4, chain.Head);
        Assert.Equal(3, chain.Count);
        Assert.Equal(Data + 0x40, chain.AddressOf(1));
        Assert.Equal(513UL, chain.WritableLength);
    }

    public static TheoryData<string> Hostile => new()
    {
        "loop", "next beyond table", "buffer outside RAM", "buffer straddles end of RAM", "head beyond size",
        "index far ahead", "readable after writable", "nested indirect", "indirect with next", "indirect odd length",
        "indirect outside RAM", "indirect loop", "absurd length",
    };

    [Theory]
    [MemberData(nameof(Hostile))]
    public void Hostile_rings_throw_VirtqueueException_and_nothing_else(string kind)
    {
        ushort head = 0;
        switch (kind)
        {
            case "loop":
                Descriptor(Desc, 0, Data, 4, Virtqueue.DescriptorNext, 1);
                Descriptor(Desc, 1, Data, 4, Virtqueue.DescriptorNext, 0);
                break;
            case "next beyond table":
                Descriptor(Desc, 0, Data, 4, Virtqueue.DescriptorNext, Size);
                break;
            case "buffer outside RAM":
                Descriptor(Desc, 0, 0xFFFF_0000_0000, 4, 0);
                break;
            case "buffer straddles end of RAM":
                Descriptor(Desc, 0, (1UL << 20) - 8, 16, 0);
                break;
            case "head beyond size":
                head = Size;
                break;
            case "index far ahead":
                _memory.WriteUInt16(Avail + 2, Size + 1);
                break;
            case "readable after writable":
                Descriptor(Desc, 0, Data, 4, Virtqueue.DescriptorNext | Virtqueue.DescriptorWrite, 1);
                Descriptor(Desc, 1, Data, 4, 0);
                break;
            case "nested indirect":
                Descriptor(0x8000, 0, 0x9000, 16, Virtqueue.DescriptorIndirect);
                Descriptor(Desc, 0, 0x8000, 16, Virtqueue.DescriptorIndirect);
                break;
            case "indirect with next":
                Descriptor(Desc, 0, 0x8000, 16, Virtqueue.DescriptorIndirect | Virtqueue.DescriptorNext, 1);
                break;
            case "indirect odd length":
                Descriptor(Desc, 0, 0x8000, 17, Virtqueue.DescriptorIndirect);
                break;
            case "indirect outside RAM":
                Descriptor(Desc, 0, 0x4000_0000, 32, Virtqueue.DescriptorIndirect);
                break;
            case "indirect loop":
                Descriptor(0x8000, 0, Data, 4, Virtqueue.DescriptorNext, 1);
                Descriptor(0x8000, 1, Data, 4, Virtqueue.DescriptorNext, 0);
                Descriptor(Desc, 0, 0x8000, 32, Virtqueue.DescriptorIndirect);
                break;
            case "absurd length":
                Descriptor(Desc, 0, Data, 0xFFFF_FFF0, 0);
                break;
        }
        if (kind != "index far ahead") MakeAvailable(0, head);
        Assert.Throws<VirtqueueException>(() => _queue.Pop());
    }

    [Fact]
    public void Without_event_index_the_no_interrupt_flag_suppresses_interrupts()
    {
        Descriptor(Desc, 0, Data, 4, 0);
        MakeAvailable(0, 0);
        _queue.PushUsed(_queue.Pop()!.Head, 0);
        Assert.True(_queue.ShouldInterrupt());
        _memory.WriteUInt16(Avail, Virtqueue.AvailableNoInterrupt);
        MakeAvailable(1, 0);
        _queue.PushUsed(_queue.Pop()!.Head, 0);
        Assert.False(_queue.ShouldInterrupt());
    }

    [Fact]
    public void With_event_index_interrupts_only_when_used_event_is_crossed_and_asks_for_notifications()
    {
        _queue.EventIndex = true;
        Descriptor(Desc, 0, Data, 4, 0);
        ulong usedEvent = Avail + 4 + 2UL * Size;
        _memory.WriteUInt16(usedEvent, 2);      // the driver wants an interrupt once entry 2 is used
        for (ushort i = 0; i < 4; i++)
        {
            MakeAvailable(i, 0);
            _queue.PushUsed(_queue.Pop()!.Head, 0);
            bool interrupt = _queue.ShouldInterrupt();
            // The first push always interrupts (nothing signalled yet); then only the one that makes used idx 3.
            Assert.Equal(i == 0 || i == 2, interrupt);
        }
        _queue.RequestNotification();
        Assert.Equal(4, _memory.ReadUInt16(Used + 4 + 8UL * Size));
    }

    [Fact]
    public void Validate_rejects_bad_sizes_and_rings_outside_RAM()
    {
        _queue.Size = 12;
        Assert.NotNull(_queue.Validate());
        _queue.Size = 32;
        Assert.NotNull(_queue.Validate());                    // beyond MaxSize 16
        _queue.Size = Size;
        _queue.UsedRingAddress = (1UL << 20) - 8;
        Assert.NotNull(_queue.Validate());
        _queue.UsedRingAddress = Used + 2;
        Assert.NotNull(_queue.Validate());                    // misaligned
    }

    [Fact]
    public void State_round_trips_the_ring_positions()
    {
        Descriptor(Desc, 0, Data, 4, 0);
        MakeAvailable(0, 0, 0, 0);
        for (int i = 0; i < 3; i++) _queue.PushUsed(_queue.Pop()!.Head, 1);
        var saved = _queue.SaveState();
        var copy = new Virtqueue(_memory, 0, 16);
        copy.RestoreState(saved);
        Assert.Equal(3, copy.NextAvailableIndex);
        Assert.Equal(3, copy.UsedIndex);
        Assert.Equal(saved, copy.SaveState());
        MakeAvailable(3, 0);
        Assert.Equal(0, copy.Pop()!.Head);
    }
}
