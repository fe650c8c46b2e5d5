"""Child-process plumbing for the supervisor: spawning, signalling, reaping.

Every child is started in its own process group, so that a whole tree (celery's pool, the
browsers pytest launches) can be signalled at once and the terminal's Ctrl-C reaches the
supervisor only. Every child also gets a parent-death signal, so nothing outlives a
supervisor that was SIGKILLed.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import pwd
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

PREFIX = "[supervisor]"
PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>

_output_lock = threading.Lock()


def log(message: str) -> None:
    # stderr, so that `exec -- cmd > file` captures only the command's own output.
    with _output_lock:
        print(f"{PREFIX} {message}", file=sys.stderr, flush=True)


def _load_libc() -> ctypes.CDLL | None:
    # Loaded once in the parent: dlopen() is not safe between fork() and exec().
    if not sys.platform.startswith("linux"):
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6", use_errno=True)
    except OSError:
        return None


_LIBC = _load_libc()


def set_pdeathsig(signum: int) -> None:
    """Ask the kernel to send `signum` to this process when its parent dies (Linux only)."""
    if _LIBC is not None:
        _LIBC.prctl(PR_SET_PDEATHSIG, int(signum), 0, 0, 0)


class Interrupted(Exception):
    def __init__(self, signum: int):
        super().__init__(signal.Signals(signum).name)
        self.signum = signum


class StopRequest:
    """Records SIGINT/SIGTERM/SIGHUP; every wait loop polls it.

    Handlers only set a flag (never raise), so a signal can't tear through a half-started
    Popen or a half-done shutdown; the loops notice it within one poll interval.
    """

    SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)

    def __init__(self) -> None:
        self.signum: int | None = None
        self.count = 0

    def install(self) -> None:
        for signum in self.SIGNALS:
            signal.signal(signum, self._handle)

    def _handle(self, signum: int, _frame: object) -> None:
        self.count += 1
        if self.signum is None:
            self.signum = signum

    def check(self) -> None:
        if self.signum is not None:
            raise Interrupted(self.signum)

    def sleep(self, seconds: float) -> None:
        self.check()
        time.sleep(seconds)
        self.check()


@dataclass(frozen=True)
class RunAs:
    """A system user to drop to before exec (PostgreSQL refuses to run as root)."""

    name: str

    @property
    def uid(self) -> int:
        return pwd.getpwnam(self.name).pw_uid

    @property
    def gid(self) -> int:
        return pwd.getpwnam(self.name).pw_gid


def terminal_fd() -> int | None:
    """stdin's fd if it is a terminal whose foreground group is ours, else None."""
    try:
        fd = sys.stdin.fileno()
        if os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp():
            return fd
    except (OSError, ValueError, AttributeError):
        pass
    return None


def _take_terminal(fd: int) -> None:
    # A background group may only change the terminal's foreground group with SIGTTOU
    # ignored; restore the default so the exec'd program sees normal job control.
    signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    with contextlib.suppress(OSError):
        os.tcsetpgrp(fd, os.getpgrp())
    signal.signal(signal.SIGTTOU, signal.SIG_DFL)


def reclaim_terminal(fd: int | None) -> None:
    if fd is None:
        return
    old_mask = signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTTOU})
    try:
        with contextlib.suppress(OSError):
            os.tcsetpgrp(fd, os.getpgrp())
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, old_mask)


def _child_setup(parent_pid: int, pdeathsig: int, tty_fd: int | None) -> None:
    """Runs in the child between fork and exec (after subprocess switched uid/gid)."""
    if tty_fd is not None:
        # Done in the child, before exec, so it can't read the tty before owning it.
        _take_terminal(tty_fd)
    # After the uid switch on purpose: changing credentials clears the death signal.
    set_pdeathsig(pdeathsig)
    if os.getppid() != parent_pid:  # the supervisor died before prctl took effect
        os._exit(1)


@dataclass
class Child:
    name: str
    popen: subprocess.Popen
    stop_signal: int = signal.SIGTERM
    stop_timeout: float = 10.0
    tier: int = 0
    log_path: str | None = None
    tty_fd: int | None = None  # the terminal this child was handed, to take back later
    returncode: int | None = None
    _pump: threading.Thread | None = field(default=None, repr=False)

    @property
    def pid(self) -> int:
        return self.popen.pid

    def has_exited(self) -> bool:
        """True once the child has exited; does not reap it (WNOWAIT).

        Leaving the zombie in place keeps its pid, hence its process-group id, reserved
        until finish() has swept the group, so we never signal a recycled group id.
        """
        if self.returncode is not None:
            return True
        try:
            info = os.waitid(os.P_PID, self.pid, os.WEXITED | os.WNOHANG | os.WNOWAIT)
        except ChildProcessError:
            return True
        return info is not None

    def signal_group(self, signum: int) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(self.pid, signum)

    def finish(self) -> int:
        """Kill whatever is left in the child's group, reap the child, return a shell-style code."""
        if self.returncode is None:
            self.signal_group(signal.SIGKILL)
            code = self.popen.wait()
            reclaim_terminal(self.tty_fd)
            self.returncode = 128 - code if code < 0 else code
            if self._pump is not None:
                self._pump.join(timeout=2)
        return self.returncode


def spawn(
    name: str,
    argv: Sequence[str],
    *,
    env: Mapping[str, str],
    cwd: str | Path,
    run_as: RunAs | None = None,
    output: IO | None = None,
    label_output: bool = False,
    take_terminal: bool = False,
    pdeathsig: int = signal.SIGTERM,
    stop_signal: int = signal.SIGTERM,
    stop_timeout: float = 10.0,
    tier: int = 0,
) -> Child:
    """Start `argv` in a new process group.

    output: a file to send stdout+stderr to; None inherits ours. label_output prefixes
    every line with the child's name instead, so several servers stay readable together.
    """
    tty_fd = terminal_fd() if take_terminal else None
    parent_pid = os.getpid()
    stdout: IO | int | None = output
    if label_output:
        stdout = subprocess.PIPE
    user_kwargs = {}
    if run_as is not None:
        user_kwargs = {"user": run_as.uid, "group": run_as.gid, "extra_groups": []}
    popen = subprocess.Popen(
        list(argv),
        env=dict(env),
        cwd=str(cwd),
        stdin=None if take_terminal else subprocess.DEVNULL,
        stdout=stdout,
        stderr=subprocess.STDOUT if stdout is not None else None,
        process_group=0,
        preexec_fn=lambda: _child_setup(parent_pid, pdeathsig, tty_fd),
        **user_kwargs,
    )
    child = Child(
        name=name,
        popen=popen,
        stop_signal=stop_signal,
        stop_timeout=stop_timeout,
        tier=tier,
        log_path=getattr(output, "name", None),
        tty_fd=tty_fd,
    )
    if label_output:
        child._pump = _start_pump(name, popen.stdout)
    return child


def _start_pump(name: str, stream: IO[bytes]) -> threading.Thread:
    def pump() -> None:
        for raw in iter(stream.readline, b""):
            line = raw.decode("utf-8", errors="replace").rstrip("\n")
            with _output_lock:
                print(f"{name:>6} | {line}", flush=True)
        stream.close()

    thread = threading.Thread(target=pump, name=f"pump-{name}", daemon=True)
    thread.start()
    return thread


def stop_children(children: Sequence[Child], stop: StopRequest) -> None:
    """Ask each child's group to stop, wait up to its stop_timeout, then SIGKILL the group.

    The children are stopped together (not one by one) so a tier shuts down in the time of
    its slowest member. Another Ctrl-C while waiting skips straight to SIGKILL.
    """
    running = [child for child in children if not child.has_exited()]
    for child in running:
        child.signal_group(child.stop_signal)
    deadline = time.monotonic() + max((child.stop_timeout for child in running), default=0)
    signals_seen = stop.count
    while running and time.monotonic() < deadline and stop.count == signals_seen:
        time.sleep(0.05)
        running = [child for child in running if not child.has_exited()]
    for child in running:
        log(f"{child.name} (pid {child.pid}) did not stop in time; killing it")
    for child in children:
        child.finish()
