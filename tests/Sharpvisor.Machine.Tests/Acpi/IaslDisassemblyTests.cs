using System.Buffers.Binary;
using System.Diagnostics;
using System.Text;
using Sharpvisor.Machine.Acpi;

namespace Sharpvisor.Machine.Tests.Acpi;

/// <summary>
/// Feeds the tables we emit to ACPICA's iasl (Debian package acpica-tools): the independent check that layouts,
/// lengths, checksums and AML are what an OS's ACPI parser expects.
/// </summary>
public class IaslDisassemblyTests
{
    private static readonly string[] ComplaintMarkers = ["error", "warning", "incorrect checksum", "invalid", "****"];

    [SkippableTheory]
    [InlineData(1, false)]
    [InlineData(8, true)]
    [InlineData(260, false)]
    public void IaslDisassemblesEveryTableWithoutComplaint(int vcpus, bool withHighWindow)
    {
        var builder = new AcpiTableBuilder(Enumerable.Range(0, vcpus).Select(i => (uint)i).ToArray())
        {
            PciHostBridge = new PciHostBridgeDescription
            {
                Mmio64Window = withHighWindow ? (0x80_0000_0000UL, 0x90_0000_0000UL) : null,
            },
        };
        var tables = builder.Build();

        using var dir = new TempDirectory();
        int disassembled = 0;
        foreach (var table in tables.Tables.Where(t => t.Signature != AcpiTableBuilder.RsdpSignature))
        {
            string dat = Path.Combine(dir.Path, table.Signature + ".dat");
            File.WriteAllBytes(dat, table.Bytes);
            var (exit, output) = RunIasl(dir.Path, "-d", dat);
            Assert.True(exit == 0, $"iasl -d {table.Signature}.dat exited with {exit}:\n{output}");
            string dsl = Path.Combine(dir.Path, table.Signature + ".dsl");
            Assert.True(File.Exists(dsl), $"iasl wrote no {table.Signature}.dsl:\n{output}");
            string text = File.ReadAllText(dsl);
            foreach (string marker in ComplaintMarkers)
            {
                Assert.False(output.Contains(marker, StringComparison.OrdinalIgnoreCase),
                    $"iasl's output for {table.Signature} mentions \"{marker}\":\n{output}");
                Assert.False(text.Contains(marker, StringComparison.OrdinalIgnoreCase),
                    $"{table.Signature}.dsl mentions \"{marker}\":\n{text}");
            }
            // iasl reports the length it decoded: "Raw Table Data: Length N (0xN)" or, for AML, "Length 0x... (N)".
            int length = table.Bytes.Length;
            Assert.Matches($@"Raw Table Data: Length {length} \(0x{length:X}\)|Length\s+0x{length:X8} \({length}\)", text);

            switch (table.Signature)
            {
                case "DSDT":
                    Assert.Contains("PNP0A08", text);
                    Assert.Contains("PNP0A03", text);
                    Assert.Contains("PNP0501", text);
                    Assert.Contains("_S5_", text);
                    Assert.Contains("0x0CF8", text);
                    Assert.Contains("IRQNoFlags", text);
                    Assert.Equal(withHighWindow, text.Contains("QWordMemory"));
                    // The keyboard controller, so that Linux maps IRQ 1 on a machine without a legacy PIC.
                    Assert.Matches(@"Device \(KBD\)\s*\{\s*Name \(_HID, EisaId \(""PNP0303""\)", text);
                    Assert.Matches(@"IO \(Decode16,[^)]*0x0060,[^)]*0x0060,[^)]*\)\s*IO \(Decode16,[^)]*0x0064,[^)]*0x0064,[^)]*\)\s*IRQNoFlags \(\)\s*\{1\}", text);
                    // The power button and the Generic Event Device that notifies it.
                    Assert.Contains("PNP0C0C", text);
                    Assert.Contains("\"ACPI0013\"", text);
                    Assert.Matches(@"Interrupt \(ResourceConsumer, Level, ActiveHigh, Exclusive, ,, \)\s*\{\s*0x00000014,\s*\}", text);
                    Assert.Matches(@"OperationRegion \(EREG, SystemIO, 0x03C4, One\)", text);
                    Assert.Matches(@"ESEL,\s+8", text);
                    Assert.Matches(@"Method \(_EVT, 1, Serialized\)", text);
                    Assert.Matches(@"Local0 = ESEL[^\n]*\n\s*If \(\(Local0 & One\)\)\s*\{\s*Notify \(\\_SB.PWRB, 0x80\)", text);
                    break;
                case "APIC":
                    int expectedXApic = Math.Min(vcpus, 255);
                    Assert.Equal(expectedXApic, Count(text, "[Processor Local APIC]"));
                    Assert.Equal(vcpus - expectedXApic, Count(text, "[Processor Local x2APIC]"));
                    break;
                case "FACP":
                    Assert.Matches(@"Hardware Reduced \(V5\) : 1", text);
                    Assert.Matches(@"Reset Register Supported \(V2\) : 1", text);
                    Assert.Matches(@"8042 Present on ports 60/64 \(V2\) : 1", text);
                    Assert.Matches(@"CMOS RTC Not Present \(V5\) : 0", text);
                    break;
            }
            disassembled++;
        }
        Assert.Equal(5, disassembled);                          // XSDT, RSDT, FACP, APIC, DSDT
    }

    /// <summary>
    /// iasl cannot disassemble a bare RSDP, but its data table compiler can build one from field values; our RSDP
    /// must equal that byte for byte, both checksums included.
    /// </summary>
    [SkippableFact]
    public void RsdpMatchesWhatIaslCompilesFromTheSameFields()
    {
        var tables = new AcpiTableBuilder([0, 1]).Build();
        byte[] ours = tables["RSD PTR "].Bytes;
        uint rsdt = BinaryPrimitives.ReadUInt32LittleEndian(ours.AsSpan(16));
        ulong xsdt = BinaryPrimitives.ReadUInt64LittleEndian(ours.AsSpan(24));
        Assert.Equal(tables["RSDT"].Address, rsdt);
        Assert.Equal(tables["XSDT"].Address, xsdt);

        using var dir = new TempDirectory();
        string source = Path.Combine(dir.Path, "rsdp.asl");
        File.WriteAllText(source, $"""
            [0008]                          Signature : "RSD PTR "
            [0001]                           Checksum : 00
            [0006]                             Oem ID : "{AcpiTableEncoding.OemId}"
            [0001]                           Revision : 02
            [0004]                       RSDT Address : {rsdt:X8}
            [0004]                             Length : 00000024
            [0008]                       XSDT Address : {xsdt:X16}
            [0001]                  Extended Checksum : 00
            [0003]                           Reserved : 000000

            """);
        var (exit, output) = RunIasl(dir.Path, source);
        Assert.True(exit == 0, $"iasl rsdp.asl exited with {exit}:\n{output}");
        Assert.Equal(File.ReadAllBytes(Path.Combine(dir.Path, "rsdp.aml")), ours);
    }

    private static int Count(string text, string what)
    {
        int count = 0;
        for (int i = text.IndexOf(what, StringComparison.Ordinal); i >= 0; i = text.IndexOf(what, i + 1, StringComparison.Ordinal))
            count++;
        return count;
    }

    private static (int Exit, string Output) RunIasl(string workingDirectory, params string[] arguments)
    {
        HostRequires.Tool("iasl", "acpica-tools");
        var psi = new ProcessStartInfo("iasl", arguments)
        {
            WorkingDirectory = workingDirectory,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        Process process;
        try
        {
            process = Process.Start(psi) ?? throw new InvalidOperationException("iasl did not start");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            throw new InvalidOperationException(
                "iasl is not installed; install Debian's acpica-tools (apt-get install -y acpica-tools)", e);
        }
        using (process)
        {
            var stderr = process.StandardError.ReadToEndAsync();
            string stdout = process.StandardOutput.ReadToEnd();
            process.WaitForExit();
            return (process.ExitCode, stdout + stderr.Result);
        }
    }

    private sealed class TempDirectory : IDisposable
    {
        public string Path { get; } = Directory.CreateTempSubdirectory("sharpvisor-acpi-").FullName;
        public void Dispose() => Directory.Delete(Path, recursive: true);
    }
}
