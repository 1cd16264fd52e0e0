namespace Sharpvisor.TestGuests.Guests;

/// <summary>
/// The accesses the io-echo guest makes, with the values every read must return. The expected values come from a
/// small model of QEMU's pc-testdev written here, independent of our device: QEMU checks the model, and the same
/// script replayed against <c>TestEchoPortDevice</c>/<c>TestEchoMemoryDevice</c> checks our devices.
/// <para>Model: ports 0xE0-0xE3 hold one little-endian 32-bit register, a 1/2/4-byte access at 0xE0+k touching bytes
/// k on; 0xE8-0xEB reach the same register byte by byte. The 64 KiB at 0xFF000000 store bytes as written.
/// Every access is naturally aligned (QEMU rejects misaligned MMIO there), and nothing is read that the script
/// did not write first, since QEMU does not clear the echo memory on reset.</para>
/// </summary>
public static class EchoScript
{
    private static readonly ulong[] Patterns =
    [
        0x0123_4567_89AB_CDEF, 0xFEDC_BA98_7654_3210, 0xFFFF_FFFF_FFFF_FFFF, 0,
        0x5555_5555_5555_5555, 0xAAAA_AAAA_AAAA_AAAA, 0x8000_0000_0000_0001,
    ];

    public static IReadOnlyList<EchoOperation> Operations { get; } = Build();

    private static IReadOnlyList<EchoOperation> Build()
    {
        var model = new Model();

        // Whole-register writes, read back at every width and byte position.
        foreach (ulong pattern in Patterns)
        {
            model.Write(EchoSpace.Port, 0, 4, pattern);
            model.Read(EchoSpace.Port, 0, 4);
            model.Read(EchoSpace.Port, 0, 2);
            model.Read(EchoSpace.Port, 2, 2);
            for (ulong k = 0; k < 4; k++) model.Read(EchoSpace.Port, k, 1);
        }

        // Narrow writes must replace only their bytes.
        model.Write(EchoSpace.Port, 0, 4, 0x1122_3344);
        model.Write(EchoSpace.Port, 1, 1, 0xAA);
        model.Read(EchoSpace.Port, 0, 4);
        model.Write(EchoSpace.Port, 2, 2, 0xBBCC);
        model.Read(EchoSpace.Port, 0, 4);
        model.Write(EchoSpace.Port, 3, 1, 0xDD);
        model.Read(EchoSpace.Port, 2, 2);
        model.Write(EchoSpace.Port, 0, 2, 0xEEFF);
        model.Read(EchoSpace.Port, 0, 4);
        model.Read(EchoSpace.Port, 1, 1);

        // The bytewise ports alias the same register.
        model.Write(EchoSpace.Port, 8, 4, 0xCAFE_BABE);
        model.Read(EchoSpace.Port, 0, 4);
        model.Write(EchoSpace.Port, 10, 2, 0x1234);
        model.Read(EchoSpace.Port, 8, 4);
        model.Read(EchoSpace.Port, 9, 1);
        model.Write(EchoSpace.Port, 0, 2, 0xF00D);
        model.Read(EchoSpace.Port, 8, 2);
        model.Read(EchoSpace.Port, 11, 1);

        // Echo memory: every width, every pattern, each in a slot of its own.
        ulong slot = 0x1000;
        foreach (int width in new[] { 1, 2, 4, 8 })
            foreach (ulong pattern in Patterns)
            {
                model.Write(EchoSpace.Memory, slot, width, pattern);
                model.Read(EchoSpace.Memory, slot, width);
                slot += 8;
            }

        // Byte order: a quadword read back in pieces, and pieces read back as a quadword.
        model.Write(EchoSpace.Memory, 0x100, 8, 0x0123_4567_89AB_CDEF);
        model.Read(EchoSpace.Memory, 0x100, 1);
        model.Read(EchoSpace.Memory, 0x103, 1);
        model.Read(EchoSpace.Memory, 0x102, 2);
        model.Read(EchoSpace.Memory, 0x106, 2);
        model.Read(EchoSpace.Memory, 0x104, 4);
        for (ulong i = 0; i < 8; i++) model.Write(EchoSpace.Memory, 0x200 + i, 1, 0x10 + i);
        model.Read(EchoSpace.Memory, 0x200, 8);
        for (ulong i = 0; i < 4; i++) model.Write(EchoSpace.Memory, 0x300 + 2 * i, 2, 0xA0B0 + i);
        model.Read(EchoSpace.Memory, 0x300, 8);
        model.Write(EchoSpace.Memory, 0x304, 4, 0xDEAD_BEEF);
        model.Read(EchoSpace.Memory, 0x300, 8);

        // Both ends of the 64 KiB, another page, and earlier data still there afterwards.
        model.Write(EchoSpace.Memory, 0, 8, 0x0706_0504_0302_0100);
        model.Write(EchoSpace.Memory, 0xFFF8, 8, 0xF8F9_FAFB_FCFD_FEFF);
        model.Write(EchoSpace.Memory, 0x8000, 4, 0x8000_8000);
        model.Read(EchoSpace.Memory, 0, 8);
        model.Read(EchoSpace.Memory, 0xFFF8, 8);
        model.Read(EchoSpace.Memory, 0xFFFF, 1);
        model.Read(EchoSpace.Memory, 0x8000, 4);
        model.Read(EchoSpace.Memory, 0x100, 8);
        model.Read(EchoSpace.Memory, 0x1000, 1);
        model.Read(EchoSpace.Port, 0, 4);

        return model.Operations;
    }

    private sealed class Model
    {
        private uint _register;
        private readonly byte[] _memory = new byte[TestGuestProtocol.EchoMemorySize];
        private readonly bool[] _written = new bool[TestGuestProtocol.EchoMemorySize];
        public List<EchoOperation> Operations { get; } = [];

        public void Write(EchoSpace space, ulong offset, int width, ulong value)
        {
            CheckAccess(space, offset, width);
            value &= Mask(width);
            if (space == EchoSpace.Port)
            {
                int first = (int)(offset & 3);
                for (int i = 0; i < width; i++)
                {
                    int shift = 8 * (first + i);
                    _register = (_register & ~(0xFFu << shift)) | (uint)((value >> (8 * i)) & 0xFF) << shift;
                }
            }
            else
            {
                for (int i = 0; i < width; i++)
                {
                    _memory[(int)offset + i] = (byte)(value >> (8 * i));
                    _written[(int)offset + i] = true;
                }
            }
            Operations.Add(new EchoOperation(space, true, offset, width, value));
        }

        public void Read(EchoSpace space, ulong offset, int width)
        {
            CheckAccess(space, offset, width);
            ulong value = 0;
            for (int i = 0; i < width; i++)
            {
                ulong b;
                if (space == EchoSpace.Port)
                    b = (_register >> (8 * ((int)(offset & 3) + i))) & 0xFF;
                else
                {
                    if (!_written[(int)offset + i])
                        throw new InvalidOperationException($"the script reads echo memory 0x{offset + (ulong)i:x} before writing it");
                    b = _memory[(int)offset + i];
                }
                value |= b << (8 * i);
            }
            Operations.Add(new EchoOperation(space, false, offset, width, value));
        }

        private static ulong Mask(int width) => width == 8 ? ulong.MaxValue : (1UL << (8 * width)) - 1;

        private static void CheckAccess(EchoSpace space, ulong offset, int width)
        {
            if (offset % (ulong)width != 0) throw new InvalidOperationException("echo accesses are naturally aligned");
            bool fits = space == EchoSpace.Port
                ? width <= 4 && (offset < 4 || offset is >= 8 and < 12) && (offset & 3) + (ulong)width <= 4
                : width is 1 or 2 or 4 or 8 && offset + (ulong)width <= TestGuestProtocol.EchoMemorySize;
            if (!fits) throw new InvalidOperationException($"echo access at offset 0x{offset:x} width {width} is out of range");
        }
    }
}
