"""Run untrusted learner code in a throw-away sandbox: bubblewrap for what it can see, rlimits for what it can use.

The process sees a read-only system (/usr), the Python interpreter and the course's virtualenv, a read-only copy
of its own input folder and a small private /tmp. It has no network, runs as ``nobody`` in its own PID, IPC and
UTS namespaces, and is limited in CPU seconds, address space, file size, processes, wall-clock time and the
bytes of output it may return. Everything else on the machine (the course's ``source/``, the gradebook, other
submissions, the instructor's home) simply does not exist inside.
"""

from __future__ import annotations

import functools
import os
import shutil
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

NOBODY = 65534


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot start here; grading must refuse rather than run learner code unconfined."""


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int = 20
    memory_bytes: int = 2 * 1024**3  # address space: numpy and its BLAS reserve a lot of virtual memory
    file_bytes: int = 16 * 1024**2
    processes: int = 32
    tmp_bytes: int = 64 * 1024**2
    wall_seconds: float = 30.0
    output_bytes: int = 1024**2


@dataclass
class Outcome:
    returncode: int | None
    stdout: bytes
    stderr: bytes
    timed_out: bool = False
    truncated: bool = False

    @property
    def ok(self) -> bool:
        return self.returncode == 0 and not self.timed_out


@functools.lru_cache(maxsize=1)
def matplotlib_seed() -> Path | None:
    """A matplotlib font cache built once per machine, so that a sandbox does not spend seconds rebuilding it."""
    seed = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "gradcourse" / "matplotlib"
    if not any(seed.glob("fontlist-*.json")):
        seed.mkdir(parents=True, exist_ok=True)
        subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], capture_output=True, timeout=300,
                       env={**os.environ, "MPLCONFIGDIR": str(seed)})
    return seed if any(seed.glob("fontlist-*.json")) else None


def _interpreter_paths() -> list[Path]:
    """What the sandboxed Python needs to start: the base installation and the virtualenv (read-only). Not the
    course package: the learner's process gets no reference implementation to call."""
    return sorted({Path(sys.base_prefix).resolve(), Path(sys.prefix).absolute()})


def _bwrap_args(inputs: Path | None, limits: Limits, extra_ro: list[Path]) -> list[str]:
    bwrap = shutil.which("bwrap")
    if not bwrap:
        raise SandboxUnavailable("bubblewrap (`bwrap`) is not installed: `apt-get install bubblewrap`")
    args = [
        bwrap, "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
        "--die-with-parent", "--new-session",
        "--ro-bind", "/usr", "/usr", "--symlink", "usr/lib", "/lib", "--symlink", "usr/lib64", "/lib64",
        "--symlink", "usr/bin", "/bin", "--proc", "/proc", "--dev", "/dev",
        "--perms", "1777", "--size", str(limits.tmp_bytes), "--tmpfs", "/tmp",
    ]
    made: set[Path] = {Path("/")}
    binds = [("--ro-bind", p) for p in [*_interpreter_paths(), *extra_ro]]
    for how, path in binds:
        for parent in reversed(path.parents):  # bwrap would create missing parents as 0700, unreadable by nobody
            if parent not in made and not str(parent).startswith(("/usr", "/proc", "/dev")):
                args += ["--perms", "0755", "--dir", str(parent)]
                made.add(parent)
        args += [how, str(path), str(path)]
        made.add(path)
    args += ["--perms", "0755", "--dir", "/etc"]
    for shared in ("/etc/fonts", "/etc/matplotlibrc"):  # plotting needs the font configuration, nothing else of /etc
        if Path(shared).exists():
            args += ["--ro-bind", shared, shared]
    seed = matplotlib_seed()
    if seed is not None:
        args += ["--perms", "0755", "--dir", "/seed", "--ro-bind", str(seed), "/seed/matplotlib",
                 "--setenv", "MPLCONFIGDIR", "/tmp/matplotlib"]
    if inputs is not None:
        args += ["--ro-bind", str(inputs), "/input"]
    args += ["--chdir", "/tmp", "--clearenv", "--setenv", "PATH", "/usr/bin:/bin", "--setenv", "HOME", "/tmp",
             "--setenv", "OPENBLAS_NUM_THREADS", "1", "--setenv", "OMP_NUM_THREADS", "1",
             "--setenv", "PYTHONDONTWRITEBYTECODE", "1", "--setenv", "PYTHONNOUSERSITE", "1"]
    return args


def command(argv: list[str], inputs: Path | None = None, limits: Limits = Limits(),
            extra_ro: list[Path] = ()) -> list[str]:
    """The full command line: bubblewrap, then drop to ``nobody`` (so the process limit binds), then rlimits."""
    drop = ["setpriv", f"--reuid={NOBODY}", f"--regid={NOBODY}", "--clear-groups", "--no-new-privs"]
    if matplotlib_seed() is not None:  # a private, writable copy of the font cache: no rebuild, nothing shared
        argv = ["/bin/sh", "-c", 'cp -R /seed/matplotlib /tmp/matplotlib && exec "$0" "$@"', *argv]
    rlimits = _prlimit(limits, f"--nproc={limits.processes}")
    return [*_bwrap_args(inputs, limits, list(extra_ro)), *drop, *rlimits, *argv]


def _prlimit(limits: Limits, *more: str) -> list[str]:
    return ["prlimit", f"--cpu={limits.cpu_seconds}", f"--as={limits.memory_bytes}",
            f"--fsize={limits.file_bytes}", *more, "--core=0", "--"]


def unconfined_command(argv: list[str], limits: Limits = Limits()) -> list[str]:
    """Resource limits only, for an instructor who chose to grade without the sandbox (see SandboxPolicy). No
    process limit: as root it would not bind, and as the instructor it would count their own processes."""
    return [*_prlimit(limits), *argv]


UNCONFINED_ENV = {"PATH": "/usr/bin:/bin", "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1",
                  "PYTHONDONTWRITEBYTECODE": "1", "PYTHONNOUSERSITE": "1"}


def run(argv: list[str], stdin: bytes = b"", inputs: Path | None = None, limits: Limits = Limits(),
        extra_ro: list[Path] = ()) -> Outcome:
    """Run ``argv`` (e.g. ``[sys.executable, "-I", "-c", code]``) in a fresh sandbox and collect its output."""
    cmd = command(argv, inputs, limits, extra_ro)
    try:
        proc = subprocess.Popen(cmd, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                start_new_session=True)
    except FileNotFoundError as exc:
        raise SandboxUnavailable(f"cannot start the sandbox: {exc}") from exc
    out, err = CappedReader(proc.stdout, limits.output_bytes), CappedReader(proc.stderr, limits.output_bytes)
    try:
        proc.stdin.write(stdin)
        proc.stdin.close()
    except BrokenPipeError:
        pass
    timed_out = False
    try:
        proc.wait(timeout=limits.wall_seconds)
    except subprocess.TimeoutExpired:
        timed_out = True
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    out.join(), err.join()
    outcome = Outcome(proc.returncode, out.data, err.data, timed_out, out.truncated or err.truncated)
    if b"bwrap:" in err.data[:200] and proc.returncode not in (0, None):
        raise SandboxUnavailable(err.data.decode(errors="replace").strip())
    return outcome


class CappedReader(threading.Thread):
    """Read a pipe to its end, keeping at most ``cap`` bytes (the rest is drained so the child never blocks)."""

    def __init__(self, pipe, cap: int):
        super().__init__(daemon=True)
        self.pipe, self.cap, self.data, self.truncated = pipe, cap, b"", False
        self.start()

    def run(self) -> None:
        chunks, size = [], 0
        while block := self.pipe.read(65536):
            if size < self.cap:
                chunks.append(block[: self.cap - size])
            size += len(block)
        self.data, self.truncated = b"".join(chunks), size > self.cap


def check_available() -> None:
    """Start a trivial sandboxed interpreter; raise SandboxUnavailable with the reason if that fails."""
    outcome = run([sys.executable, "-I", "-c", "print('ok')"], limits=Limits(wall_seconds=20))
    if outcome.stdout.strip() != b"ok":
        raise SandboxUnavailable(
            f"the sandbox did not start (exit {outcome.returncode}): {outcome.stderr.decode(errors='replace')[:500]}"
        )
