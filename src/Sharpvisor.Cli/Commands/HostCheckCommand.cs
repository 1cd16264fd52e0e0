using System.CommandLine;
using System.Text.Json;
using System.Text.Json.Serialization;
using Sharpvisor.Vmm.HostCheck;

namespace Sharpvisor.Cli.Commands;

/// <summary>`sharpvisor host-check`: which engines serve here, and every test guest on each (like virt-host-validate).</summary>
internal static class HostCheckCommand
{
    public static Command Create()
    {
        var json = new Option<bool>("--json") { Description = "Print the report as JSON instead of a table." };
        var timeout = new Option<int>("--timeout") { Description = "Seconds each test guest may take.", DefaultValueFactory = _ => 60 };
        var command = new Command("host-check", "Run the test guests on every engine this host has; exit 0 only if every guest passed.") { json, timeout };
        command.SetAction(parse =>
        {
            bool asJson = parse.GetValue(json);
            if (!asJson) Console.WriteLine($"{"ENGINE",-10} {"GUEST",-16} {"RESULT",-6} {"TIME",8}  DETAIL");
            var report = HostChecker.Run(TimeSpan.FromSeconds(parse.GetValue(timeout)), r =>
            {
                if (!asJson) Console.WriteLine($"{r.Engine.ToString().ToLowerInvariant(),-10} {r.Guest,-16} {(r.Passed ? "pass" : "FAIL"),-6} {r.Seconds,7:0.000}s  {r.Detail}");
            });
            if (asJson)
            {
                var options = new JsonSerializerOptions { WriteIndented = true, Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) } };
                Console.WriteLine(JsonSerializer.Serialize(report, options));
            }
            else
            {
                Console.WriteLine();
                foreach (var e in report.Engines)
                {
                    string state = !e.CanRun ? "cannot serve" : e.CanRunLinux ? "serves Linux and test guests" : "serves test guests only";
                    Console.WriteLine($"{e.Kind.ToString().ToLowerInvariant(),-10} {state}: {e.Reason}");
                }
            }
            return report.AllPassed ? 0 : 1;
        });
        return command;
    }
}
