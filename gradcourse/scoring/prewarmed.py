"""The grader's side of zygote.py: a fresh sandbox for each submission, and the warm interpreter forked into it.

Each start builds a new bubblewrap sandbox exactly as a cold start would (same namespaces, mounts, uid and
limits) around a placeholder process that only keeps the sandbox alive, then hands the sandbox's namespaces to
the zygote, whose fork enters them. The result looks to session.py like the process it would have started: pipes
for the channel and stderr, a pid to end, and an exit status.
"""

from __future__ import annotations

import json
import logging
import os
import select
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

from . import sandbox

HERE = Path(__file__).resolve().parent
NAMESPACES = ("ipc", "uts", "net", "cgroup", "pid", "mnt")  # as zygote.py joins them
PLACEHOLDER = ["/usr/bin/cat"]  # reads the pipe the grader holds: the sandbox lives until it is closed or killed
READY_SECONDS = 60
COLD_ENV = "GRADCOURSE_COLD_START"  # set to any value: start every interpreter from scratch (for comparison)

log = logging.getLogger(__name__)


class WarmUnavailable(RuntimeError):
    """No warm start here; the caller starts a cold interpreter in the sandbox instead."""


def usable() -> bool:
    """As root, where each sandbox has a leased uid and shares the grader's user namespace (see zygote.py)."""
    return os.geteuid() == 0 and not os.environ.get(COLD_ENV)


class Zygote:
    """The pre-warmed interpreter of one grading process, started on first use and again if it died."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._proc: subprocess.Popen | None = None
        self._control: socket.socket | None = None
        self._home: tempfile.TemporaryDirectory | None = None

    def _start(self) -> None:
        self._stop()
        self._home = tempfile.TemporaryDirectory(prefix="gradcourse-zygote-")
        home = Path(self._home.name)
        ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_SEQPACKET)
        seed = sandbox.matplotlib_seed()
        env = {**sandbox.UNCONFINED_ENV, "HOME": str(home), "IPYTHONDIR": str(home / "ipython"),
               "MPLCONFIGDIR": str(seed or home / "matplotlib")}
        # A file, not a pipe: nobody reads while it runs, and a full pipe would block it.
        errors = home / "stderr"
        try:
            with open(errors, "wb") as stderr:
                self._proc = subprocess.Popen([sys.executable, "-I", str(HERE / "zygote.py"),
                                               str(theirs.fileno())], pass_fds=[theirs.fileno()], env=env, cwd=home,
                                              stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=stderr,
                                              start_new_session=True)
        finally:
            theirs.close()
        self._control = ours
        ready, _, _ = select.select([ours], [], [], READY_SECONDS)
        if not ready or ours.recv(64) != b"ready\n":
            self._proc.kill()
            self._proc.wait()
            said = errors.read_bytes()[-500:].decode(errors="replace").strip()
            self._stop()
            raise WarmUnavailable(f"the pre-warmed interpreter did not start ({said or 'no answer'})")
        self._env = {**sandbox.UNCONFINED_ENV, "HOME": "/tmp", "MPLCONFIGDIR": "/tmp/matplotlib",
                     "IPYTHONDIR": env["IPYTHONDIR"], "MPLBACKEND": "module://matplotlib_inline.backend_inline"}

    def _stop(self) -> None:
        if self._control is not None:
            self._control.close()
            self._control = None
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None
        if self._home is not None:
            self._home.cleanup()
            self._home = None

    def fork_into(self, namespaces: list[int], channel: list[int], status: int, uid: int,
                  limits: sandbox.Limits) -> None:
        request = {"uid": uid, "env": None,
                   "limits": {"cpu": limits.cpu_seconds, "as": limits.memory_bytes, "fsize": limits.file_bytes,
                              "nproc": limits.processes}}
        with self._lock:
            for attempt in (1, 2):
                if self._proc is None or self._proc.poll() is not None:
                    self._start()
                request["env"] = self._env
                try:
                    socket.send_fds(self._control, [json.dumps(request).encode()], [*namespaces, *channel, status])
                    return
                except OSError as exc:  # it died since the last start: once more with a new one
                    if attempt == 2:
                        raise WarmUnavailable(f"the pre-warmed interpreter is gone ({exc})") from None
                    self._stop()


_ZYGOTE = Zygote()


class WarmProcess:
    """What session.py needs of a started interpreter: its pipes, a pid whose process group ends the sandbox,
    and the learner's exit status (reported by the zygote's helper)."""

    def __init__(self, sandbox_proc: subprocess.Popen, stdin, stdout, stderr, status_fd: int, keep: set[int]):
        self._sandbox, self.stdin, self.stdout, self.stderr = sandbox_proc, stdin, stdout, stderr
        self.pid = sandbox_proc.pid
        self.keep = keep  # pids inside the sandbox that are not strays: its PID 1 and the placeholder
        self._status, self._pending = status_fd, b""
        self.learner_pid: int | None = None
        self.helper_pid: int | None = None
        self.returncode: int | None = None
        self.peak_kb = 0  # the learner process's peak resident memory, once it has ended
        self.cpu_seconds = 0.0  # and the CPU time it (and the children it waited for) used

    def _read_status(self, timeout: float | None) -> None:
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.returncode is None and self._status is not None:
            left = None if deadline is None else max(0.0, deadline - time.monotonic())
            if not select.select([self._status], [], [], left)[0]:
                return
            chunk = os.read(self._status, 4096)
            if not chunk:  # the helper is gone without a word: the learner was killed with the sandbox
                self.returncode = -signal.SIGKILL
                return
            self._pending += chunk
            while b"\n" in self._pending:
                line, self._pending = self._pending.split(b"\n", 1)
                word, _, value = line.decode(errors="replace").partition(" ")
                if word == "pid":
                    learner, _, helper = value.partition(" ")
                    self.learner_pid, self.helper_pid = int(learner), int(helper or 0) or None
                    return
                if word == "exit":
                    code, peak, cpu, *_ = value.split() + ["0", "0"]
                    self.returncode, self.peak_kb, self.cpu_seconds = int(code), int(peak), float(cpu)
                elif word == "error":
                    raise WarmUnavailable(value)

    def poll(self) -> int | None:
        self._read_status(0)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        self._read_status(timeout)
        if self.returncode is None:
            raise subprocess.TimeoutExpired("learner", timeout)
        return self.returncode

    def kill(self) -> None:
        """The learner first (it lives outside bubblewrap's process tree), then the sandbox with its PID 1."""
        if self.learner_pid is not None and self.returncode is None:
            try:
                os.kill(self.learner_pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        try:
            os.killpg(self._sandbox.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self._sandbox.wait()
        try:
            self.wait(timeout=5)
        except subprocess.TimeoutExpired:
            pass
        try:
            self.stdin.close()
        except OSError:
            pass
        if self._status is not None:
            os.close(self._status)
            self._status = None


def spawn(limits: sandbox.Limits, identity: sandbox.Identity, extra_ro: list[Path]) -> WarmProcess:
    """A fresh sandbox with the warm interpreter in it; WarmUnavailable if this cannot be done here."""
    if identity.uid is None:
        raise WarmUnavailable("a warm start needs a leased uid (as root)")
    info_r, info_w = os.pipe()
    try:
        cmd = sandbox.command(PLACEHOLDER, limits=limits, extra_ro=extra_ro, identity=identity, info_fd=info_w,
                              font_cache=False, placeholder=True)
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                pass_fds=[info_w], start_new_session=True)
    finally:
        os.close(info_w)
    fds: list[int] = []
    try:
        init = _sandbox_init(info_r, proc)
        keep = {1, _placeholder_nspid(init)}
        fds = [os.open(f"/proc/{init}/ns/{name}", os.O_RDONLY | os.O_CLOEXEC) for name in NAMESPACES]
        # The sandbox's PID 1 is alive (its placeholder waits on our pipe), so these are its namespaces; that
        # they are new ones is checked all the same: joining the grader's own would be no sandbox at all.
        for name, fd in zip(NAMESPACES, fds):
            if name in ("pid", "mnt", "net") and os.fstat(fd).st_ino == os.stat(f"/proc/self/ns/{name}").st_ino:
                raise sandbox.SandboxUnavailable(f"the sandbox has no {name} namespace of its own")
        req_r, req_w = os.pipe()
        rep_r, rep_w = os.pipe()
        err_r, err_w = os.pipe()
        status_r, status_w = os.pipe()
        try:
            _ZYGOTE.fork_into(fds, [req_r, rep_w, err_w], status_w, identity.uid, limits)
        finally:
            for fd in (req_r, rep_w, err_w, status_w):
                os.close(fd)
        warm = WarmProcess(proc, os.fdopen(req_w, "wb"), os.fdopen(rep_r, "rb"), os.fdopen(err_r, "rb"),
                           status_r, keep)
        warm._read_status(READY_SECONDS)
        if warm.learner_pid is None:
            warm.kill()
            raise WarmUnavailable("the pre-warmed interpreter did not enter the sandbox")
        return warm
    except BaseException:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        raise
    finally:
        os.close(info_r)
        for fd in fds:
            os.close(fd)


def _sandbox_init(info_r: int, proc: subprocess.Popen) -> int:
    """The host pid of the sandbox's PID 1, from bubblewrap's --info-fd."""
    data, deadline = b"", time.monotonic() + READY_SECONDS
    while True:
        try:
            return int(json.loads(data)["child-pid"])
        except (ValueError, KeyError):
            pass
        ready = select.select([info_r], [], [], max(0.0, deadline - time.monotonic()))[0]
        chunk = os.read(info_r, 4096) if ready else b""
        if not chunk:
            proc.kill()
            said = proc.communicate()[1][-500:].decode(errors="replace").strip()
            raise sandbox.SandboxUnavailable(f"the sandbox did not start ({said or 'no answer'})")
        data += chunk


def _placeholder_nspid(init: int) -> int:
    """The placeholder's pid as seen inside (it is PID 1's only child), once it runs: bubblewrap has then finished
    building the sandbox (its mounts and its root), so that joining it now joins the finished sandbox."""
    name = Path(PLACEHOLDER[0]).name
    deadline = time.monotonic() + READY_SECONDS
    while time.monotonic() < deadline:
        try:
            children = Path(f"/proc/{init}/task/{init}/children").read_text().split()
            if children and Path(f"/proc/{children[0]}/comm").read_text().strip() == name:
                status = Path(f"/proc/{children[0]}/status").read_text()
                return int(next(line for line in status.splitlines() if line.startswith("NSpid:")).split()[-1])
        except (OSError, StopIteration, ValueError):
            pass
        time.sleep(0.002)
    raise sandbox.SandboxUnavailable("the sandbox's placeholder did not start")
