"""Shared by bench/snapshot and bench/migrate: a VMM process whose serial console is its stdin/stdout, the default
guest's files, command lines for Sharpvisor and QEMU TCG with the same guest, and the two control channels (QEMU's
HMP monitor and Sharpvisor's control socket)."""
import os, socket, subprocess, sys, tempfile, threading, time

root = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
cli = os.path.join(root, ".build", "cli", "sharpvisor.dll")
BOOT_TIMEOUT, COMMAND_TIMEOUT = 900, 600
CMDLINE = "console=ttyS0 panic=-1"
children = []


def default_guest(build=True):
    """Builds the CLI if needed (./sharpvisor does) and fetches the default guest (unless build is False: QEMU alone
    needs only the cached files); returns (kernel, initrd)."""
    if build: subprocess.run([os.path.join(root, "sharpvisor"), "image", "pull"], check=True, stdout=subprocess.DEVNULL)
    cache = os.environ.get("SHARPVISOR_CACHE", os.path.expanduser("~/.cache/sharpvisor"))
    image = os.path.join(cache, "images", "debian-cloud")
    return os.path.join(image, "vmlinuz"), os.path.join(image, "initramfs.cpio.gz")


def sharpvisor_argv(*extra):
    return ["dotnet", cli, "run", "--engine", "emulator", *extra]


def sharpvisor_boot_argv(kernel, initrd, memory, *extra):
    return sharpvisor_argv("--memory", f"{memory}M", "--kernel", kernel, "--initrd", initrd, "--cmdline", CMDLINE, *extra)


def qemu_argv(kernel, initrd, memory, monitor, *extra):
    # no_timer_check: on a heavily loaded host TCG's timer can miss the kernel's IO-APIC check, which then panics.
    return ["qemu-system-x86_64", "-accel", "tcg", "-M", "q35", "-m", str(memory), "-smp", "1",
            "-display", "none", "-no-reboot", "-serial", "stdio", "-monitor", f"unix:{monitor},server=on,wait=off",
            "-net", "none", "-kernel", kernel, "-initrd", initrd, "-append", CMDLINE + " no_timer_check", *extra]


def kill_children():
    for p in children:
        if p.poll() is None:
            p.kill(); p.wait()


class Guest:
    """A VMM process whose serial console is its stdin/stdout; a thread collects the output, another stderr."""

    def __init__(self, name, argv, netns=None):
        self.name, self.start = name, time.monotonic()
        if netns: argv = ["ip", "netns", "exec", netns, *argv]
        self.p = subprocess.Popen(argv, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        children.append(self.p)
        self.out, self.err, self.cond = b"", b"", threading.Condition()
        threading.Thread(target=self._pump, args=(self.p.stdout, "out"), daemon=True).start()
        threading.Thread(target=self._pump, args=(self.p.stderr, "err"), daemon=True).start()

    def _pump(self, stream, attribute):
        while True:
            chunk = stream.read1(65536)
            with self.cond:
                if chunk: setattr(self, attribute, getattr(self, attribute) + chunk)
                self.cond.notify_all()
                if not chunk: return

    def type(self, text, block=True):
        """Writes to the console; with block=False, text that does not fit the pipe now (the VMM is not reading) is dropped."""
        if block:
            self.p.stdin.write(text.encode()); self.p.stdin.flush()
            return
        fd = self.p.stdin.fileno()
        os.set_blocking(fd, False)
        try:
            os.write(fd, text.encode())
        except BlockingIOError:
            pass
        finally:
            os.set_blocking(fd, True)

    def wait_for(self, text, after=0, timeout=COMMAND_TIMEOUT, stream="out"):
        deadline = time.monotonic() + timeout
        with self.cond:
            while True:
                at = getattr(self, stream).find(text.encode(), after)
                if at >= 0: return at + len(text)
                left = deadline - time.monotonic()
                if left <= 0 or self.p.poll() is not None:
                    self.fail(f"'{text}' did not appear")
                self.cond.wait(min(left, 0.5))

    def run(self, command, marker):
        """Types a command followed by an echo of a marker the shell computes; waits for it; returns the text."""
        at = len(self.out)
        self.type(f"{command}; echo @@$((1000+{marker}))@@\n")
        end = self.wait_for(f"@@{1000 + marker}@@", at)
        return self.out[at:end].decode(errors="replace")

    def answered(self, timeout=COMMAND_TIMEOUT, since=None):
        """Seconds from `since` (default: the process start) until the shell answers `echo ok-$((40+N))`, typed
        again every 50 ms (dropped while the VMM is not reading its console)."""
        seconds = self.answered_or_none(timeout, since)
        if seconds is None: self.fail("the shell did not answer")
        return seconds

    def answered_or_none(self, timeout, since=None):
        """answered(), but None if the shell does not answer in time: for a peer whose guest can fail."""
        since = self.start if since is None else since
        token = f"ok-{time.monotonic_ns() % 100000 + 40}"
        number = int(token[3:]) - 40
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.p.poll() is not None: self.fail("exited before answering")
            self.type(f"echo ok-$((40+{number}))\n", block=False)
            with self.cond:
                self.cond.wait(0.05)
                if token.encode() in self.out: return time.monotonic() - since
        return None

    def finish(self, timeout=120):
        try:
            return self.p.wait(timeout)
        except subprocess.TimeoutExpired:
            self.p.kill(); self.p.wait()
            self.fail("did not exit")

    def poweroff(self):
        self.type("poweroff -f\n")
        self.finish()

    def fail(self, what):
        if self.p.poll() is None: self.p.kill()
        kill_children()
        sys.exit(f"{self.name}: {what}; stderr:\n{self.err.decode(errors='replace')[-2000:]}\n"
                 f"console:\n{self.out.decode(errors='replace')[-3000:]}")


def boot_to_shell(name, argv, fill_mib, netns=None):
    """Boots to the shell and fills a tmpfs with fill_mib MiB of non-zero data (a 1 MiB random seed copied)."""
    g = Guest(name, argv, netns)
    at = g.wait_for("SHARPVISOR-READY", timeout=BOOT_TIMEOUT)
    g.wait_for("# ", at)
    t = time.monotonic()
    g.run(f"mkdir -p /t && mount -t tmpfs -o size={fill_mib + 64}m tmpfs /t && head -c 1048576 /dev/urandom > /t/seed && "
          f"i=0; while [ $i -lt {fill_mib} ]; do cat /t/seed; i=$((i+1)); done > /t/fill", 1)
    free = g.run("free -m | grep Mem:", 2).split("Mem:")[-1].split()
    print(f"  {name}: booted in {t - g.start:.1f} s, filled {fill_mib} MiB in {time.monotonic() - t:.1f} s, "
          f"guest memory: {free[1]} MiB used, {free[3]} MiB shared (tmpfs) of {free[0]} MiB", file=sys.stderr)
    return g


def hmp(path, command):
    """One HMP command over QEMU's monitor socket; returns its output (up to the next prompt, or until QEMU closes
    the socket, as after `quit`)."""
    def until_prompt(s):
        data = b""
        while not data.endswith(b"(qemu) "):
            chunk = s.recv(65536)
            if not chunk: break
            data += chunk
        return data

    with socket.socket(socket.AF_UNIX) as s:
        s.connect(path)
        s.settimeout(60)
        until_prompt(s)
        s.sendall(command.encode() + b"\n")
        return until_prompt(s).decode(errors="replace").replace("\r", "")


def hmp_migration_completed(info):
    """`info migrate` says this migration completed. A QEMU that was itself a migration's destination shows that one as
    completed, with a total time of 0, until its own outgoing migration has started: that is not taken for the end."""
    total = hmp_field(info, "total time")
    return "Migration status: completed" in info and total is not None and float(total.split()[0]) > 0


def hmp_wait_migration(path, guest):
    """Polls `info migrate` until completed; returns its output."""
    while True:
        info = hmp(path, "info migrate")
        if hmp_migration_completed(info): return info
        if "Migration status: failed" in info or "Migration status: cancelled" in info:
            guest.fail(f"migration failed:\n{info}")
        time.sleep(0.01)


def hmp_field(info, name):
    """A figure from `info migrate`, e.g. 'total time' -> '1234 ms'."""
    return next((l.split(":", 1)[1].strip() for l in info.splitlines() if l.strip().startswith(name + ":")), None)


def control(path, command, timeout=COMMAND_TIMEOUT):
    """One request on Sharpvisor's control socket; returns its reply line."""
    with socket.socket(socket.AF_UNIX) as s:
        s.connect(path)
        s.settimeout(timeout)
        s.sendall(command.encode() + b"\n")
        data = b""
        while not data.endswith(b"\n"):
            chunk = s.recv(4096)
            if not chunk: break
            data += chunk
    return data.decode().strip()


def wait_for_socket(path, guest, timeout=60):
    deadline = time.monotonic() + timeout
    while not os.path.exists(path):
        if time.monotonic() > deadline or guest.p.poll() is not None: guest.fail(f"no control socket at {path}")
        time.sleep(0.05)


def du(path):
    out = subprocess.run(["du", "-s", "--block-size=1", path], capture_output=True, text=True, check=True).stdout
    return int(out.split()[0])
