using System.CommandLine;
using System.Text.Json;
using Sharpvisor.Cli.Commands;

namespace Sharpvisor.Cli.Client;

/// <summary>The options every daemon client verb takes (where the daemon is, --json), and running a verb against it.</summary>
internal sealed class ClientOptions
{
    public Option<string> Socket { get; } = new("--socket")
    {
        Description = "The daemon's Unix socket (or SHARPVISOR_SOCKET).",
        DefaultValueFactory = _ => Environment.GetEnvironmentVariable("SHARPVISOR_SOCKET") is { Length: > 0 } s ? s : DaemonCommand.DefaultSocket,
    };
    public Option<string?> Remote { get; } = new("--remote") { Description = "A remote daemon's TLS listener, https://HOST:PORT (with --token and --fingerprint)." };
    public Option<string?> Token { get; } = new("--token") { Description = "The remote daemon's bearer token (its STATE-DIR/token)." };
    public Option<string?> Fingerprint { get; } = new("--fingerprint") { Description = "The remote daemon's certificate SHA-256 fingerprint (it prints it at start)." };
    public Option<bool> Json { get; } = new("--json") { Description = "Print the daemon's answer as JSON, for scripts." };

    public Command AddTo(Command command)
    {
        command.Options.Add(Socket);
        command.Options.Add(Remote);
        command.Options.Add(Token);
        command.Options.Add(Fingerprint);
        command.Options.Add(Json);
        return command;
    }

    /// <summary>Runs <paramref name="verb"/> with a client; a refusal or failure is printed and becomes the exit code the README lists.</summary>
    public int Run(ParseResult parse, Func<DaemonClient, bool, Task<int>> verb)
    {
        try
        {
            using var client = DaemonClient.Connect(parse.GetValue(Socket)!, parse.GetValue(Remote), parse.GetValue(Token), parse.GetValue(Fingerprint));
            return verb(client, parse.GetValue(Json)).GetAwaiter().GetResult();
        }
        catch (DaemonClientException e)
        {
            if (parse.GetValue(Json)) Console.WriteLine(JsonSerializer.Serialize(new { error = e.Message, exit_code = e.ExitCode }));
            else Console.Error.WriteLine($"sharpvisor: {e.Message}");
            return e.ExitCode;
        }
    }
}
