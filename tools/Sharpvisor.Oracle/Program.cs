using Sharpvisor.Oracle.Native;

namespace Sharpvisor.Oracle;

internal static class Program
{
    private static int Main(string[] args)
    {
        using var runner = new NativeInstructionRunner();
        var c = InstructionCase.Create([0x48, 0x01, 0xD8]); // add rax, rbx
        c.Gprs[0] = 5; c.Gprs[3] = 7;
        var o = runner.Run(c);
        Console.WriteLine($"rax={o.Gprs[0]} rflags={o.Rflags:X} window={runner.WindowAddress:X}");
        return 0;
    }
}
