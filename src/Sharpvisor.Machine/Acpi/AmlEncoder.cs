using System.Buffers.Binary;
using System.Text;

namespace Sharpvisor.Machine.Acpi;

/// <summary>
/// Encodes the small subset of AML (ACPI Machine Language, ACPI 6.x chapter 20) our DSDT needs: names, scopes,
/// devices, packages, integers, strings, EISA ids and buffers, plus the few statements a method body needs (operation
/// regions and fields, Store, And, If, Notify). Every method returns the finished byte encoding of one term, so
/// nesting is plain composition and every package length is known when it is written.
/// </summary>
public static class AmlEncoder
{
    public const byte ZeroOp = 0x00, OneOp = 0x01, NameOp = 0x08, BytePrefix = 0x0A, WordPrefix = 0x0B,
        DWordPrefix = 0x0C, StringPrefix = 0x0D, QWordPrefix = 0x0E, ScopeOp = 0x10, BufferOp = 0x11,
        PackageOp = 0x12, DualNamePrefix = 0x2E, MultiNamePrefix = 0x2F, ExtOpPrefix = 0x5B, DeviceOp = 0x82,
        RootChar = 0x5C, ParentPrefixChar = 0x5E, NullName = 0x00, MethodOp = 0x14, Local0Op = 0x60, Arg0Op = 0x68,
        StoreOp = 0x70, AndOp = 0x7B, NotifyOp = 0x86, IfOp = 0xA0, OpRegionOp = 0x80, FieldOp = 0x81;

    /// <summary>RegionSpace of an OperationRegion (ACPI 6.x table 19.x): where its bytes are.</summary>
    public const byte RegionSpaceSystemMemory = 0x00, RegionSpaceSystemIo = 0x01;

    /// <summary>FieldFlags: AccessType in bits 3:0, LockRule in bit 4, UpdateRule in bits 6:5.</summary>
    public const byte FieldAccessByte = 0x01, FieldUpdateWriteAsZeros = 0x40;

    /// <summary>
    /// The PkgLength that precedes <paramref name="contentLength"/> bytes of package content. The encoded value
    /// counts its own bytes too: one byte up to 63, otherwise a lead byte holding the count of following bytes
    /// (bits 7-6) and the low nibble, then the remaining bits eight at a time.
    /// </summary>
    public static byte[] PkgLength(int contentLength)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(contentLength);
        for (int extra = 0; extra <= 3; extra++)
        {
            long total = contentLength + 1L + extra;
            if (FitsLengthEncoding(total, extra)) return EncodeLength(total, extra);
        }
        throw new ArgumentOutOfRangeException(nameof(contentLength), "an AML package cannot exceed 2^28 bytes");
    }

    private static bool FitsLengthEncoding(long value, int extra) => extra == 0 ? value <= 0x3F : value < 1L << (4 + 8 * extra);

    private static byte[] EncodeLength(long value, int extra)
    {
        if (extra == 0) return [(byte)value];
        var bytes = new byte[1 + extra];
        bytes[0] = (byte)((extra << 6) | (int)(value & 0xF));
        for (int i = 1; i <= extra; i++)
            bytes[i] = (byte)(value >> (4 + 8 * (i - 1)));
        return bytes;
    }

    /// <summary>The shortest encoding of an integer constant: ZeroOp, OneOp or a Byte/Word/DWord/QWord prefix.</summary>
    public static byte[] Integer(ulong value)
    {
        if (value == 0) return [ZeroOp];
        if (value == 1) return [OneOp];
        if (value <= 0xFF) return [BytePrefix, (byte)value];
        if (value <= 0xFFFF)
        {
            var w = new byte[3];
            w[0] = WordPrefix;
            BinaryPrimitives.WriteUInt16LittleEndian(w.AsSpan(1), (ushort)value);
            return w;
        }
        if (value <= 0xFFFF_FFFF) return DWordConst((uint)value);
        var q = new byte[9];
        q[0] = QWordPrefix;
        BinaryPrimitives.WriteUInt64LittleEndian(q.AsSpan(1), value);
        return q;
    }

    /// <summary>A DWordConst regardless of the value's size (EISA ids are always encoded this way).</summary>
    public static byte[] DWordConst(uint value)
    {
        var d = new byte[5];
        d[0] = DWordPrefix;
        BinaryPrimitives.WriteUInt32LittleEndian(d.AsSpan(1), value);
        return d;
    }

    /// <summary>A String constant: ASCII characters 0x01-0x7F, NUL-terminated.</summary>
    public static byte[] String(string value)
    {
        foreach (char c in value)
            if (c == 0 || c > 0x7F)
                throw new ArgumentException($"AML strings hold ASCII 0x01-0x7F only; got U+{(int)c:X4}", nameof(value));
        return [StringPrefix, .. Encoding.ASCII.GetBytes(value), 0];
    }

    /// <summary>
    /// The 32-bit compressed EISA id of a 7-character id such as "PNP0A03": three letters of 5 bits each (A=1) and
    /// four hex digits, stored so that the bytes in memory read in id order.
    /// </summary>
    public static uint EisaIdValue(string id)
    {
        if (id.Length != 7)
            throw new ArgumentException($"an EISA id has 7 characters (3 letters, 4 hex digits); got \"{id}\"", nameof(id));
        int vendor = 0;
        for (int i = 0; i < 3; i++)
        {
            char c = id[i];
            if (c < 'A' || c > 'Z')
                throw new ArgumentException($"EISA id \"{id}\" must start with three capital letters", nameof(id));
            vendor = (vendor << 5) | (c - 'A' + 1);
        }
        if (!ushort.TryParse(id.AsSpan(3), System.Globalization.NumberStyles.AllowHexSpecifier, null, out ushort product)
            || id.Skip(3).Any(char.IsLower))
            throw new ArgumentException($"EISA id \"{id}\" must end with four upper-case hex digits", nameof(id));
        // Big-endian 16-bit vendor then big-endian 16-bit product, read back as a little-endian DWORD.
        return (uint)((vendor >> 8) | ((vendor & 0xFF) << 8) | ((product >> 8) << 16) | ((product & 0xFF) << 24));
    }

    public static byte[] EisaId(string id) => DWordConst(EisaIdValue(id));

    /// <summary>
    /// A NameString: optional root (\) or parent (^) prefixes, then dot-separated segments of up to four characters
    /// (padded with '_'), using the dual or multi name prefix as the segment count requires.
    /// </summary>
    public static byte[] NameString(string path)
    {
        var bytes = new List<byte>();
        int pos = 0;
        if (path.StartsWith('\\'))
        {
            bytes.Add(RootChar);
            pos = 1;
        }
        else
        {
            while (pos < path.Length && path[pos] == '^')
            {
                bytes.Add(ParentPrefixChar);
                pos++;
            }
        }
        string rest = path[pos..];
        if (rest.Length == 0)
        {
            if (bytes.Count == 0) throw new ArgumentException("an empty AML name", nameof(path));
            bytes.Add(NullName);
            return bytes.ToArray();
        }
        string[] segments = rest.Split('.');
        if (segments.Length > 255)
            throw new ArgumentException($"AML name \"{path}\" has more than 255 segments", nameof(path));
        if (segments.Length == 2) bytes.Add(DualNamePrefix);
        else if (segments.Length > 2)
        {
            bytes.Add(MultiNamePrefix);
            bytes.Add((byte)segments.Length);
        }
        foreach (string segment in segments)
            bytes.AddRange(NameSegment(segment, path));
        return bytes.ToArray();
    }

    private static byte[] NameSegment(string segment, string path)
    {
        if (segment.Length is 0 or > 4)
            throw new ArgumentException($"AML name segment \"{segment}\" in \"{path}\" must have 1 to 4 characters", nameof(path));
        var seg = new byte[4];
        for (int i = 0; i < 4; i++)
        {
            char c = i < segment.Length ? segment[i] : '_';
            bool valid = c is >= 'A' and <= 'Z' or '_' || (i > 0 && c is >= '0' and <= '9');
            if (!valid)
                throw new ArgumentException(
                    $"AML name segment \"{segment}\" in \"{path}\": '{c}' is not allowed (A-Z, _, and 0-9 after the first)",
                    nameof(path));
            seg[i] = (byte)c;
        }
        return seg;
    }

    /// <summary>Name(path, value): binds a data object to a name.</summary>
    public static byte[] Name(string path, byte[] dataObject) => [NameOp, .. NameString(path), .. dataObject];

    /// <summary>Scope(path) { terms }.</summary>
    public static byte[] Scope(string path, params byte[][] terms) => WithPkgLength([ScopeOp], [NameString(path), .. terms]);

    /// <summary>Device(path) { terms }.</summary>
    public static byte[] Device(string path, params byte[][] terms) =>
        WithPkgLength([ExtOpPrefix, DeviceOp], [NameString(path), .. terms]);

    /// <summary>Package() { elements }, each element a data object (integer, string, package, buffer).</summary>
    public static byte[] Package(params byte[][] elements)
    {
        if (elements.Length > 255)
            throw new ArgumentException("a Package holds at most 255 elements; larger ones need VarPackage", nameof(elements));
        return WithPkgLength([PackageOp], [[(byte)elements.Length], .. elements]);
    }

    /// <summary>Buffer() { bytes }, its size given as an integer before the bytes.</summary>
    public static byte[] Buffer(ReadOnlySpan<byte> data) =>
        WithPkgLength([BufferOp], [Integer((ulong)data.Length), data.ToArray()]);

    /// <summary>Method(name, argCount, Serialized or NotSerialized) { terms }, sync level 0.</summary>
    public static byte[] Method(string name, int argumentCount, bool serialized, params byte[][] terms)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(argumentCount);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(argumentCount, 7);
        byte flags = (byte)(argumentCount | (serialized ? 0x08 : 0));
        return WithPkgLength([MethodOp], [NameString(name), [flags], .. terms]);
    }

    /// <summary>OperationRegion(name, space, offset, length).</summary>
    public static byte[] OperationRegion(string name, byte regionSpace, ulong offset, ulong length) =>
        [ExtOpPrefix, OpRegionOp, .. NameString(name), regionSpace, .. Integer(offset), .. Integer(length)];

    /// <summary>
    /// Field(region, flags) { name, bits, ... }: named fields laid out one after another from bit 0 of the region. A
    /// field's width is written as a PkgLength-style number that, unlike a package's, does not count its own bytes.
    /// </summary>
    public static byte[] Field(string region, byte flags, params (string Name, int Bits)[] fields)
    {
        var list = new List<byte[]> { NameString(region), new[] { flags } };
        foreach (var (name, bits) in fields)
        {
            if (name.Length != 4) throw new ArgumentException($"a field name is one 4-character segment, not \"{name}\"", nameof(fields));
            if (bits is <= 0 or >= 1 << 28) throw new ArgumentOutOfRangeException(nameof(fields), $"field {name} has {bits} bits");
            list.Add(NameString(name));
            int extra = 0;
            while (!FitsLengthEncoding(bits, extra)) extra++;
            list.Add(EncodeLength(bits, extra));
        }
        return WithPkgLength([ExtOpPrefix, FieldOp], [.. list]);
    }

    /// <summary>LocalN (0-7), a method's local variable.</summary>
    public static byte[] Local(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(index, 7);
        return [(byte)(Local0Op + index)];
    }

    /// <summary>ArgN (0-6), a method's argument.</summary>
    public static byte[] Arg(int index)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(index);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(index, 6);
        return [(byte)(Arg0Op + index)];
    }

    /// <summary>Store(source, target).</summary>
    public static byte[] Store(byte[] source, byte[] target) => [StoreOp, .. source, .. target];

    /// <summary>And(left, right): the bitwise AND as a value, stored nowhere.</summary>
    public static byte[] And(byte[] left, byte[] right) => [AndOp, .. left, .. right, NullName];

    /// <summary>If(predicate) { terms }: the terms run when the predicate is a non-zero integer.</summary>
    public static byte[] If(byte[] predicate, params byte[][] terms) => WithPkgLength([IfOp], [predicate, .. terms]);

    /// <summary>Notify(object, value): tells OSPM's handler for the object about event <paramref name="value"/>.</summary>
    public static byte[] Notify(string objectPath, ulong value) => [NotifyOp, .. NameString(objectPath), .. Integer(value)];

    private static byte[] WithPkgLength(byte[] opcode, byte[][] parts)
    {
        int contentLength = parts.Sum(p => p.Length);
        byte[] pkgLength = PkgLength(contentLength);
        var result = new byte[opcode.Length + pkgLength.Length + contentLength];
        opcode.CopyTo(result, 0);
        pkgLength.CopyTo(result, opcode.Length);
        int pos = opcode.Length + pkgLength.Length;
        foreach (byte[] part in parts)
        {
            part.CopyTo(result, pos);
            pos += part.Length;
        }
        return result;
    }
}
