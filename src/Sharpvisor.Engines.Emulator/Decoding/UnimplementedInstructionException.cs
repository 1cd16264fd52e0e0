namespace Sharpvisor.Engines.Emulator.Decoding;

/// <summary>The guest reached an instruction form the emulator does not implement: an engine limit, reported with RIP, bytes and mnemonic.</summary>
public sealed class UnimplementedInstructionException(ulong rip, byte[] bytes, string text)
    : Exception($"the emulator does not implement '{text}' ({Convert.ToHexString(bytes).ToLowerInvariant()}) at RIP 0x{rip:x}")
{
    public ulong Rip { get; } = rip;
    public byte[] Bytes { get; } = bytes;
    public string Text { get; } = text;
}
