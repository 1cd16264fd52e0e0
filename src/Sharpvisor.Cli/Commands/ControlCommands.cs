using System.CommandLine;
using System.Net.Sockets;
using Sharpvisor.Vmm.Lifecycle;

namespace Sharpvisor.Cli.Commands;

/// <summary>
/// `sharpvisor pause|resume|status|stop|reset|powerdown|ctrl-alt-del --control PATH` and `sharpvisor snapshot create|restore`: commands for a VM
/// started with `run --control PATH`, sent over that Unix socket (<see cref="VmControlServer"/>).
/// </summary>
internal static class ControlCommands
{
    public static IEnumerable<Command> Create()
    {
        yield return Simple("pause", "Stop the VM's vCPUs between two instructions and freeze its clock.", "pause");
        yield return Resume();
        yield return Simple("status", "Print the VM's state: created, running, paused, saving, saved, migrating or stopped.", "status");
        yield return Simple("stop", "Stop the VM (its `run` exits with code 6).", "stop");
        yield return Simple("reset", "Reset the running VM: it boots again (QEMU's system_reset); its taps and disks stay as they are.", "reset");
        yield return Simple("powerdown", "Press the VM's ACPI power button (QEMU's system_powerdown); the default guest powers off.", "powerdown");
        yield return Simple("ctrl-alt-del", "Type Ctrl-Alt-Del on the VM's PS/2 keyboard (Firecracker's SendCtrlAltDel); the default guest reboots.", "ctrl-alt-del");
        yield return Snapshot();
    }

    private static Option<string> ControlOption() =>
        new("--control") { Description = "The VM's control socket (as given to `run --control`).", Required = true };

    private static Command Simple(string name, string description, string verb)
    {
        var control = ControlOption();
        var command = new Command(name, description) { control };
        command.SetAction(parse => Send(parse.GetValue(control)!, verb));
        return command;
    }

    private static Command Resume()
    {
        var control = ControlOption();
        var catchUp = new Option<bool>("--catch-up-clock") { Description = "Move the guest's clock forward by the time it was paused (by default it goes on from where it stopped, as in QEMU)." };
        var command = new Command("resume", "Let a paused VM run again; its clock goes on from where it stopped.") { control, catchUp };
        command.SetAction(parse => Send(parse.GetValue(control)!, parse.GetValue(catchUp) ? "resume catch-up-clock" : "resume"));
        return command;
    }

    private static Command Snapshot()
    {
        var control = ControlOption();
        var directory = new Argument<string>("directory") { Description = "The snapshot folder (created; an older snapshot there is replaced once the new one is complete)." };
        var stop = new Option<bool>("--stop") { Description = "Stop the VM once it is saved (virsh save); otherwise it goes on (or stays paused)." };
        var create = new Command("create", "Save a running or paused VM: vCPUs, devices, guest clock and the RAM it touched.") { directory, control, stop };
        create.SetAction(parse => Send(parse.GetValue(control)!,
            $"{(parse.GetValue(stop) ? "save" : "snapshot")} {Path.GetFullPath(parse.GetValue(directory)!)}"));

        var restoreDirectory = new Argument<string>("directory") { Description = "The snapshot folder." };
        var engine = new Option<string>("--engine") { Description = "auto, kvm or emulator (a snapshot from one engine resumes on the other where the guest allows).", DefaultValueFactory = _ => "auto" };
        engine.AcceptOnlyFromAmong([.. Sharpvisor.Vmm.EngineSelection.EngineCatalog.ChoiceNames]);
        var serial = new Option<string>("--serial") { Description = "Where COM1 goes: stdio, none, file:PATH or unix:PATH.", DefaultValueFactory = _ => "stdio" };
        var restoreControl = new Option<string?>("--control") { Description = "Listen for control commands on this Unix socket." };
        var paused = new Option<bool>("--paused") { Description = "Restore with the vCPUs stopped, until `sharpvisor resume`." };
        var noVerifyMemory = new Option<bool>("--no-verify-memory") { Description = "Check the memory file's size but not the SHA-256 of its pages (which reads them all)." };
        var restore = new Command("restore", "Resume a snapshot (the same as `run --restore DIR`); memory is mapped from the snapshot and loads as the guest touches it.")
        {
            restoreDirectory, engine, serial, restoreControl, paused, noVerifyMemory,
        };
        restore.SetAction(parse => RunCommand.Restore(parse.GetValue(restoreDirectory)!, parse.GetValue(engine)!, parse.GetValue(serial)!,
            parse.GetValue(restoreControl), parse.GetValue(paused), verifyMemory: !parse.GetValue(noVerifyMemory)));

        return new Command("snapshot", "Save a VM to a folder and resume it later, here or elsewhere, on either engine.") { create, restore };
    }

    private static int Send(string socket, string command)
    {
        try
        {
            string reply = VmControlServer.Send(socket, command, TimeSpan.FromMinutes(5));
            if (reply.StartsWith("ok"))
            {
                Console.WriteLine(reply.Length > 3 ? reply[3..] : "");
                return 0;
            }
            Console.Error.WriteLine($"sharpvisor: {(reply.StartsWith("error ") ? reply[6..] : reply)}");
            return ExitCodes.VmmError;
        }
        catch (SocketException e)
        {
            Console.Error.WriteLine($"sharpvisor: cannot reach the VM at {socket}: {e.Message}");
            return ExitCodes.VmmError;
        }
    }
}
