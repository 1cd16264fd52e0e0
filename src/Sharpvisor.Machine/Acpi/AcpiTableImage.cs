namespace Sharpvisor.Machine.Acpi;

/// <summary>One built ACPI structure and the guest-physical address it lives at.</summary>
public sealed record AcpiTableImage(string Signature, ulong Address, byte[] Bytes);
