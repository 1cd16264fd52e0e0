using System.Buffers.Binary;

namespace Sharpvisor.Machine.Acpi;

/// <summary>
/// The Fixed ACPI Description Table ("FACP", ACPI 6.x 5.2.9) of a hardware-reduced platform: no PM1/PM2/GPE
/// blocks, no SCI, no FACS; power-off through the sleep control and status registers, reboot through the reset
/// register; the DSDT found through X_DSDT only.
/// </summary>
public static class FadtTable
{
    public const string Signature = "FACP";
    public const byte Revision = 6;
    public const byte MinorRevision = 3;                // ACPI 6.3
    public const int Length = 276;

    public const int DsdtOffset = 40, IapcBootArchOffset = 109, FlagsOffset = 112, ResetRegisterOffset = 116,
        ResetValueOffset = 128, MinorRevisionOffset = 131, XDsdtOffset = 140, SleepControlOffset = 244,
        SleepStatusOffset = 256;

    // Fixed feature flags (ACPI 6.x table 5.10).
    public const uint FlagWbinvd = 1 << 0, FlagProcC1 = 1 << 2, FlagResetRegisterSupported = 1 << 10,
        FlagHardwareReduced = 1 << 20;

    // IA-PC boot architecture flags (ACPI 6.x table 5.11).
    public const ushort BootArchLegacyDevices = 1 << 0, BootArch8042 = 1 << 1, BootArchVgaNotPresent = 1 << 2,
        BootArchMsiNotSupported = 1 << 3, BootArchPcieAspmControls = 1 << 4, BootArchCmosRtcNotPresent = 1 << 5;

    /// <summary>
    /// Legacy ISA-style devices exist (COM1, the i8042 at 0x60/0x64, the CMOS RTC at 0x70/0x71), there is an 8042,
    /// and there is no VGA. CMOS_RTC_NOT_PRESENT stays clear: Linux would otherwise not register the RTC.
    /// </summary>
    public const ushort DefaultBootArchitecture = BootArchLegacyDevices | BootArch8042 | BootArchVgaNotPresent;

    public static byte[] Build(ulong dsdtAddress, HardwareReducedRegisters registers,
        ushort bootArchitecture = DefaultBootArchitecture)
    {
        var table = new byte[Length];
        var t = table.AsSpan();
        // FIRMWARE_CTRL, the 32-bit DSDT pointer, SCI_INT, SMI_CMD and every legacy block stay zero: with
        // HW_REDUCED_ACPI there is no FACS and no fixed hardware, and X_DSDT alone names the DSDT.
        BinaryPrimitives.WriteUInt16LittleEndian(t[IapcBootArchOffset..], bootArchitecture);
        BinaryPrimitives.WriteUInt32LittleEndian(t[FlagsOffset..],
            FlagWbinvd | FlagProcC1 | FlagResetRegisterSupported | FlagHardwareReduced);
        GenericAddress.IoPort8(registers.ResetPort).WriteTo(t[ResetRegisterOffset..]);
        t[ResetValueOffset] = registers.ResetValue;
        t[MinorRevisionOffset] = MinorRevision;
        BinaryPrimitives.WriteUInt64LittleEndian(t[XDsdtOffset..], dsdtAddress);
        GenericAddress.IoPort8(registers.SleepControlPort).WriteTo(t[SleepControlOffset..]);
        GenericAddress.IoPort8(registers.SleepStatusPort).WriteTo(t[SleepStatusOffset..]);
        return AcpiTableEncoding.CreateTable(Signature, Revision, t[AcpiTableEncoding.HeaderLength..]);
    }
}
