using System.Diagnostics;
using Sharpvisor.Vmm.Images;

namespace Sharpvisor.Vmm.Tests.Images;

/// <summary>
/// vsockcat, run on the host (it is a static x86-64 Linux program): its arguments are checked before anything else.
/// Its transfers over vsock are tested in the guest (VsockLinuxTests).
/// </summary>
public sealed class GuestVsockRelayTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("sharpvisor-vsockcat-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private (int Exit, string Error) Run(params string[] arguments)
    {
        string program = Path.Combine(_folder, "vsockcat");
        File.WriteAllBytes(program, GuestVsockRelay.Build());
        File.SetUnixFileMode(program, UnixFileMode.UserRead | UnixFileMode.UserExecute);
        var start = new ProcessStartInfo(program) { RedirectStandardError = true, RedirectStandardInput = true };
        foreach (string argument in arguments) start.ArgumentList.Add(argument);
        using var process = Process.Start(start)!;
        process.StandardInput.Close();
        string error = process.StandardError.ReadToEnd();
        Assert.True(process.WaitForExit(10_000), "vsockcat did not end");
        return (process.ExitCode, error);
    }

    [Theory]
    [InlineData("")]
    [InlineData("2 5000 extra")]
    [InlineData("two 5000")]
    [InlineData("50x0")]
    public void Bad_arguments_print_the_usage_and_exit_2(string arguments)
    {
        var (exit, error) = Run(arguments.Split(' ', StringSplitOptions.RemoveEmptyEntries));
        Assert.Equal(2, exit);
        Assert.Equal("vsockcat: usage: vsockcat CID PORT | vsockcat PORT\n", error);
    }

    [Fact]
    public void A_connection_nobody_accepts_fails_with_exit_1()
    {
        // CID 1 is the local CID: refused at once where the host has vsock, and socket() fails where it has none.
        var (exit, error) = Run("1", "9");
        Assert.Equal(1, exit);
        Assert.Equal("vsockcat: a system call failed\n", error);
    }
}
