using System.Buffers.Binary;
using Iced.Intel;
using static Iced.Intel.AssemblerRegisters;

namespace Sharpvisor.Vmm.Images;

/// <summary>
/// <c>vsockcat</c>, the default guest's vsock tool (Debian's busybox 1.35 nc has no AF_VSOCK): a static x86-64 Linux
/// program assembled here, so the image needs no compiler. <c>vsockcat CID PORT</c> connects, <c>vsockcat PORT</c>
/// listens on any CID and takes one connection; then stdin goes to the socket (its write side is shut at stdin's EOF)
/// and the socket to stdout until the peer's EOF, in two processes (fork). Exit status 1 and a line on stderr when a
/// system call fails, 2 for bad arguments.
/// </summary>
public static class GuestVsockRelay
{
    public const string GuestPath = "usr/bin/vsockcat";
    private const ulong LoadAddress = 0x400000;
    private const int HeaderBytes = 0x1000;          // ELF and program headers, then the code at LoadAddress + 0x1000
    private const int BufferSize = 64 * 1024;
    private const int AfVsock = 40, SockStream = 1, ShutWrite = 1;
    private const uint AnyCid = uint.MaxValue;
    private const int SysRead = 0, SysWrite = 1, SysSocket = 41, SysConnect = 42, SysAccept = 43, SysShutdown = 48, SysBind = 49,
        SysListen = 50, SysFork = 57, SysWait4 = 61, SysExitGroup = 231;

    /// <summary>The program as an ELF executable (one read-write-execute segment; the buffers follow the code).</summary>
    public static byte[] Build()
    {
        ulong codeAddress = LoadAddress + HeaderBytes;
        byte[] code = Assemble(codeAddress, out ulong dataAddress);
        ulong memorySize = dataAddress - LoadAddress + 16 + BufferSize;
        return WriteElf(code, codeAddress, memorySize);
    }

    private static byte[] Assemble(ulong codeAddress, out ulong dataAddress)
    {
        // First pass with a guess for the data address, then again with the real one (the code's size does not change:
        // every data reference is a 64-bit immediate).
        dataAddress = codeAddress + 0x1000;
        for (int pass = 0; ; pass++)
        {
            byte[] code = AssembleAt(codeAddress, dataAddress);
            ulong end = (codeAddress + (ulong)code.Length + 15) & ~15UL;
            if (end == dataAddress) return code;
            if (pass == 2) throw new InvalidOperationException("vsockcat's layout did not settle");
            dataAddress = end;
        }
    }

    private static byte[] AssembleAt(ulong codeAddress, ulong data)
    {
        ulong address = data, buffer = data + 16;     // struct sockaddr_vm (16 bytes), then the copy buffer
        var a = new Assembler(64);
        var usage = a.CreateLabel();
        var failed = a.CreateLabel();
        var listen = a.CreateLabel();
        var relay = a.CreateLabel();
        var atoi = a.CreateLabel();
        var writeAll = a.CreateLabel();
        var message = a.CreateLabel();

        a.mov(r12, __qword_ptr[rsp]);                 // argc
        a.lea(r13, __qword_ptr[rsp + 8]);             // argv
        a.mov(rdi, address);
        a.mov(__word_ptr[rdi], AfVsock);
        Syscall(a, SysSocket, AfVsock, SockStream, 0);
        a.test(rax, rax);
        a.js(failed);
        a.mov(r14, rax);
        a.cmp(r12, 2);
        a.je(listen);
        a.cmp(r12, 3);
        a.jne(usage);

        // vsockcat CID PORT
        ArgumentToAddress(a, argument: 1, field: 8, atoi, address);
        ArgumentToAddress(a, argument: 2, field: 4, atoi, address);
        SocketCall(a, SysConnect, () => { a.mov(rsi, address); a.mov(edx, 16); }, failed);
        a.jmp(relay);

        // vsockcat PORT: bind to any CID, take one connection
        a.Label(ref listen);
        ArgumentToAddress(a, argument: 1, field: 4, atoi, address);
        a.mov(__dword_ptr[rdi + 8], unchecked((int)AnyCid));
        SocketCall(a, SysBind, () => { a.mov(rsi, address); a.mov(edx, 16); }, failed);
        SocketCall(a, SysListen, () => a.mov(esi, 1), failed);
        SocketCall(a, SysAccept, () => { a.xor(esi, esi); a.xor(edx, edx); }, failed);
        a.mov(r14, rax);

        // The child copies the socket to stdout; the parent stdin to the socket, shuts its write side, waits.
        a.Label(ref relay);
        a.mov(eax, SysFork);
        a.syscall();
        a.test(rax, rax);
        a.js(failed);
        a.mov(r15, rax);
        var parent = a.CreateLabel();
        a.jnz(parent);
        CopyLoop(a, from: r14, to: 1, buffer, writeAll, a.CreateLabel(), out var childDone);
        a.Label(ref childDone);
        Exit(a, 0);
        CopyLoop(a, from: 0, to: r14, buffer, writeAll, parent, out var parentDone);
        a.Label(ref parentDone);
        a.mov(eax, SysShutdown);
        a.mov(rdi, r14);
        a.mov(esi, ShutWrite);
        a.syscall();
        a.mov(eax, SysWait4);
        a.mov(rdi, r15);
        a.xor(esi, esi);
        a.xor(edx, edx);
        a.xor(r10d, r10d);
        a.syscall();
        Exit(a, 0);

        // rdi: a decimal string -> rax; anything else is a usage error.
        a.Label(ref atoi);
        a.xor(eax, eax);
        var digit = a.CreateLabel();
        var number = a.CreateLabel();
        a.Label(ref digit);
        a.movzx(ecx, __byte_ptr[rdi]);
        a.test(ecx, ecx);
        a.jz(number);
        a.sub(ecx, '0');
        a.cmp(ecx, 9);
        a.ja(usage);
        a.imul(rax, rax, 10);
        a.add(rax, rcx);
        a.inc(rdi);
        a.jmp(digit);
        a.Label(ref number);
        a.ret();

        // write(rdi, rsi, rdx) until all is written.
        a.Label(ref writeAll);
        a.mov(eax, SysWrite);
        a.syscall();
        a.test(rax, rax);
        a.jle(failed);
        a.add(rsi, rax);
        a.sub(rdx, rax);
        a.jnz(writeAll);
        a.ret();

        a.Label(ref usage);
        Complain(a, message, 0, 2);
        a.Label(ref failed);
        Complain(a, message, 1, 1);
        a.Label(ref message);
        a.db("vsockcat: usage: vsockcat CID PORT | vsockcat PORT\n"u8.ToArray());
        a.db("vsockcat: a system call failed\n"u8.ToArray());

        using var stream = new MemoryStream();
        a.Assemble(new StreamCodeWriter(stream), codeAddress);
        return stream.ToArray();
    }

    private static void CopyLoop(Assembler a, AssemblerRegister64 from, int to, ulong buffer, Label writeAll, Label loop, out Label done) =>
        CopyLoop(a, () => a.mov(rdi, from), () => a.mov(edi, to), buffer, writeAll, loop, out done);

    private static void CopyLoop(Assembler a, int from, AssemblerRegister64 to, ulong buffer, Label writeAll, Label loop, out Label done) =>
        CopyLoop(a, () => a.mov(edi, from), () => a.mov(rdi, to), buffer, writeAll, loop, out done);

    // At `loop`: read(from) into the buffer; 0 or an error ends the loop; otherwise write it all to `to`.
    private static void CopyLoop(Assembler a, Action loadFrom, Action loadTo, ulong buffer, Label writeAll, Label loop, out Label done)
    {
        done = a.CreateLabel();
        a.Label(ref loop);
        a.mov(eax, SysRead);
        loadFrom();
        a.mov(rsi, buffer);
        a.mov(edx, BufferSize);
        a.syscall();
        a.test(rax, rax);
        a.jle(done);
        loadTo();
        a.mov(rsi, buffer);
        a.mov(rdx, rax);
        a.call(writeAll);
        a.jmp(loop);
    }

    // argv[argument] as a decimal number into the sockaddr_vm field at `field` (4: port, 8: CID); leaves rdi at it.
    private static void ArgumentToAddress(Assembler a, int argument, int field, Label atoi, ulong address)
    {
        a.mov(rdi, __qword_ptr[r13 + 8 * argument]);
        a.call(atoi);
        a.mov(rdi, address);
        a.mov(__dword_ptr[rdi + field], eax);
    }

    // A system call on the socket (r14) with the other arguments set by `arguments`; a negative result fails.
    private static void SocketCall(Assembler a, int number, Action arguments, Label failed)
    {
        a.mov(eax, number);
        a.mov(rdi, r14);
        arguments();
        a.syscall();
        a.test(rax, rax);
        a.js(failed);
    }

    private static void Syscall(Assembler a, int number, int first, int second, int third)
    {
        a.mov(eax, number);
        a.mov(edi, first);
        a.mov(esi, second);
        a.mov(edx, third);
        a.syscall();
    }

    // Message `which` (0 usage, 1 failure) of the two at `message`, to stderr, then exit(status).
    private static void Complain(Assembler a, Label message, int which, int status)
    {
        int usageLength = "vsockcat: usage: vsockcat CID PORT | vsockcat PORT\n".Length;
        a.mov(eax, SysWrite);
        a.mov(edi, 2);
        a.lea(rsi, __qword_ptr[message]);
        if (which == 1) a.add(rsi, usageLength);
        a.mov(edx, which == 0 ? usageLength : "vsockcat: a system call failed\n".Length);
        a.syscall();
        Exit(a, status);
    }

    private static void Exit(Assembler a, int status)
    {
        a.mov(eax, SysExitGroup);
        a.mov(edi, status);
        a.syscall();
    }

    // ELF64 ET_EXEC for x86-64 Linux: one PT_LOAD from file offset 0 (headers included) at LoadAddress.
    private static byte[] WriteElf(byte[] code, ulong entry, ulong memorySize)
    {
        var file = new byte[HeaderBytes + code.Length];
        var span = file.AsSpan();
        "\u007fELF"u8.CopyTo(span);
        span[4] = 2;                                                        // ELFCLASS64
        span[5] = 1;                                                        // little-endian
        span[6] = 1;                                                        // EV_CURRENT
        BinaryPrimitives.WriteUInt16LittleEndian(span[16..], 2);            // ET_EXEC
        BinaryPrimitives.WriteUInt16LittleEndian(span[18..], 62);           // EM_X86_64
        BinaryPrimitives.WriteUInt32LittleEndian(span[20..], 1);
        BinaryPrimitives.WriteUInt64LittleEndian(span[24..], entry);
        BinaryPrimitives.WriteUInt64LittleEndian(span[32..], 64);           // e_phoff
        BinaryPrimitives.WriteUInt16LittleEndian(span[52..], 64);           // e_ehsize
        BinaryPrimitives.WriteUInt16LittleEndian(span[54..], 56);           // e_phentsize
        BinaryPrimitives.WriteUInt16LittleEndian(span[56..], 1);            // e_phnum
        var header = span[64..];
        BinaryPrimitives.WriteUInt32LittleEndian(header, 1);                // PT_LOAD
        BinaryPrimitives.WriteUInt32LittleEndian(header[4..], 7);           // read, write, execute
        BinaryPrimitives.WriteUInt64LittleEndian(header[8..], 0);           // p_offset
        BinaryPrimitives.WriteUInt64LittleEndian(header[16..], LoadAddress);
        BinaryPrimitives.WriteUInt64LittleEndian(header[24..], LoadAddress);
        BinaryPrimitives.WriteUInt64LittleEndian(header[32..], (ulong)file.Length);
        BinaryPrimitives.WriteUInt64LittleEndian(header[40..], memorySize);
        BinaryPrimitives.WriteUInt64LittleEndian(header[48..], 0x1000);
        code.CopyTo(span[HeaderBytes..]);
        return file;
    }
}
