namespace Sharpvisor.Machine.Acpi;

/// <summary>
/// The ACPI tables of a machine as placed in guest memory: the RSDP (what boot_params.acpi_rsdp_addr and PVH's
/// rsdp_paddr point at) and every table, each with its address.
/// </summary>
public sealed record AcpiTables(ulong RsdpAddress, IReadOnlyList<AcpiTableImage> Tables)
{
    /// <summary>The structure with this signature ("RSD PTR " for the RSDP, "FACP", "APIC", "DSDT", ...).</summary>
    public AcpiTableImage this[string signature] =>
        Tables.FirstOrDefault(t => t.Signature == signature)
        ?? throw new KeyNotFoundException($"no ACPI table with signature \"{signature}\"");

    /// <summary>The first byte past the last table.</summary>
    public ulong EndAddress => Tables.Max(t => t.Address + (ulong)t.Bytes.Length);
}
