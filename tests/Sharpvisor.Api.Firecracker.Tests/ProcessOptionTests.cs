namespace Sharpvisor.Api.Firecracker.Tests;

/// <summary>The process's command line: what it refuses before serving anything.</summary>
public sealed class ProcessOptionTests : IDisposable
{
    private readonly string _folder = Directory.CreateTempSubdirectory("fc-opt-").FullName;

    public void Dispose() => Directory.Delete(_folder, recursive: true);

    private static (int Exit, string Stderr) Run(params string[] arguments)
    {
        var info = new System.Diagnostics.ProcessStartInfo("dotnet") { RedirectStandardError = true, RedirectStandardOutput = true, RedirectStandardInput = true };
        info.ArgumentList.Add(Path.Combine(AppContext.BaseDirectory, "sharpvisor.dll"));
        info.ArgumentList.Add("firecracker");
        foreach (var a in arguments) info.ArgumentList.Add(a);
        using var process = System.Diagnostics.Process.Start(info)!;
        process.StandardInput.Close();
        var stderr = process.StandardError.ReadToEndAsync();
        Assert.True(process.WaitForExit(60_000), "sharpvisor firecracker did not end");
        return (process.ExitCode, stderr.Result);
    }

    [Fact]
    public void No_api_without_a_config_file_is_a_bad_argument()
    {
        var (exit, stderr) = Run("--no-api");
        Assert.Equal(2, exit);
        Assert.Contains("--no-api needs --config-file", stderr);
    }

    [Fact]
    public void An_existing_socket_path_is_refused()
    {
        string socket = Path.Combine(_folder, "taken.sock");
        File.WriteAllText(socket, "");
        var (exit, stderr) = Run("--api-sock", socket);
        Assert.Equal(3, exit);
        Assert.Contains("already exists", stderr);
    }

    [Fact]
    public void A_config_file_with_an_unknown_resource_is_refused_by_name()
    {
        string config = Path.Combine(_folder, "vm.json");
        File.WriteAllText(config, """{"boot-source": {"kernel_image_path": "/nonexistent"}, "machine-config": {"vcpu_count": 1, "mem_size_mib": 128}, "gpu": {}}""");
        var (exit, stderr) = Run("--no-api", "--config-file", config);
        Assert.Equal(2, exit);
        Assert.Contains("unknown field 'gpu'", stderr);
    }

    [Fact]
    public void A_bad_log_level_is_refused()
    {
        var (exit, stderr) = Run("--api-sock", Path.Combine(_folder, "a.sock"), "--level", "Loud");
        Assert.Equal(2, exit);
        Assert.Contains("'level' must be one of", stderr);
    }
}
