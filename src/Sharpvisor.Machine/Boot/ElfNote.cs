namespace Sharpvisor.Machine.Boot;

/// <summary>One note from a PT_NOTE segment: owner name (without its NUL), type and descriptor bytes.</summary>
public sealed record ElfNote(string Name, uint Type, byte[] Descriptor);
