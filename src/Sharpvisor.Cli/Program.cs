using System.CommandLine;
using Sharpvisor.Cli.Commands;

namespace Sharpvisor.Cli;

public static class Program
{
    public static int Main(string[] args)
    {
        var root = new RootCommand("Sharpvisor: a virtual machine monitor for x86-64 guests, with a KVM engine and an emulator engine.")
        {
            RunCommand.Create(),
            HostCheckCommand.Create(),
            ImageCommand.Create(),
            TestGuestsCommand.Create(),
            BalloonCommand.Create(),
            MigrateCommand.Create(),
            DaemonCommand.Create(),
            VmCommands.Create(),
            NetworkCommands.Create(),
            StorageCommands.Create(),
            HostCommands.Host(),
            HostCommands.Events(),
            FirecrackerCommand.Create(),
        };
        foreach (var command in ControlCommands.Create()) root.Subcommands.Add(command);
        var parse = root.Parse(args);
        if (parse.Errors.Count > 0 && parse.Action is not System.CommandLine.Help.HelpAction)
        {
            foreach (var error in parse.Errors) Console.Error.WriteLine($"sharpvisor: {error.Message}");
            Console.Error.WriteLine("Try 'sharpvisor --help' or 'sharpvisor <verb> --help'.");
            return ExitCodes.BadArguments;
        }
        return parse.Invoke();
    }
}
