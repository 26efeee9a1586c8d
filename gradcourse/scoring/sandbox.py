"""Run untrusted learner code in a throw-away sandbox: bubblewrap for what it can see, rlimits for what it can use.

The process sees a read-only system (/usr), the Python interpreter and the course's virtualenv, a read-only copy
of its own input folder and a small private /tmp. It has no network, runs in its own PID, IPC and UTS
namespaces, and is limited in CPU seconds, address space, file size, processes, wall-clock time and the bytes of
output it may return. Everything else on the machine (the course's ``source/``, the gradebook, other
submissions, the instructor's home) simply does not exist inside.

The process limit is the one limit the kernel counts per user rather than per process, so no two sandboxes may
share a user: as root each sandbox runs as a uid leased from a reserved range for its lifetime; as anyone else
(an instructor on a JupyterHub) each sandbox gets its own user namespace, whose count the kernel keeps apart.
Either way one learner who opens threads up to the limit starves only their own sandbox.
"""

from __future__ import annotations

import fcntl
import functools
import os
import pwd
import random
import shutil
import tempfile
import time
import signal
import subprocess
import sys
import threading
from dataclasses import dataclass
from pathlib import Path

NOBODY = 65534  # the learner's uid as seen inside a user-namespace sandbox
# Leased to root's sandboxes, one uid per live sandbox. High enough to be clear of ordinary accounts (a uid that
# has an account is skipped anyway); 65536 of them so that a random pick rarely meets a lease still held.
SANDBOX_UIDS = range(1_879_048_192, 1_879_048_192 + 65536)


class SandboxUnavailable(RuntimeError):
    """The sandbox cannot start here; grading must refuse rather than run learner code unconfined."""


@dataclass(frozen=True)
class Limits:
    cpu_seconds: int = 20
    memory_bytes: int = 2 * 1024**3  # address space: numpy and its BLAS reserve a lot of virtual memory
    file_bytes: int = 16 * 1024**2
    processes: int = 8  # the course's code needs one; more would only let one learner crowd the CPU
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
        try:
            seed.mkdir(parents=True, exist_ok=True)
        except OSError:  # no writable cache: each sandbox builds its own, slower but correct
            return None
        subprocess.run([sys.executable, "-c", "import matplotlib.font_manager"], capture_output=True, timeout=300,
                       env={**os.environ, "MPLCONFIGDIR": str(seed)})
    return seed if any(seed.glob("fontlist-*.json")) else None


def _interpreter_paths() -> list[Path]:
    """What the sandboxed Python needs to start: the base installation and the virtualenv (read-only). Not the
    course package: the learner's process gets no reference implementation to call."""
    return sorted({Path(sys.base_prefix).resolve(), Path(sys.prefix).absolute()})


def _bwrap_args(inputs: Path | None, limits: Limits, extra_ro: list[Path], user: list[str],
                info_fd: int | None = None) -> list[str]:
    bwrap = shutil.which("bwrap")
    if not bwrap:
        raise SandboxUnavailable("bubblewrap (`bwrap`) is not installed: apt-get install bubblewrap")
    args = [
        bwrap, *user, *(["--info-fd", str(info_fd)] if info_fd is not None else []),
        "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
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
            extra_ro: list[Path] = (), identity: "Identity | None" = None, info_fd: int | None = None,
            font_cache: bool = True, placeholder: bool = False) -> list[str]:
    """The full command line: bubblewrap as a user of its own (see :class:`Identity`), then rlimits. ``info_fd``:
    where bubblewrap writes the sandbox's PID 1 (prewarmed.py); ``font_cache``: whether the process needs its own
    copy of matplotlib's font cache (one forked from the pre-warmed interpreter has the fonts loaded already);
    ``placeholder``: ``argv`` only keeps the sandbox alive for a learner who joins it later, so it runs as root
    with no capability at all rather than as the learner's uid, which could trace it and run code in it."""
    if font_cache and matplotlib_seed() is not None:  # a private, writable copy of the font cache: no rebuild
        argv = ["/bin/sh", "-c", 'cp -R /seed/matplotlib /tmp/matplotlib && exec "$0" "$@"', *argv]
    rlimits = _prlimit(limits, f"--nproc={limits.processes}")
    if identity is None or identity.uid is None:
        # Unprivileged bwrap always makes a user namespace; asking for it says which uid the learner sees, and no
        # process inside may make one of its own.
        user = ["--unshare-user", "--uid", str(NOBODY), "--gid", str(NOBODY), "--disable-userns"]
        if os.geteuid() == 0:
            raise SandboxUnavailable("a sandbox started as root needs a leased uid (use sandbox.Identity)")
        return [*_bwrap_args(inputs, limits, list(extra_ro), user, info_fd), *rlimits, *argv]
    uid = str(identity.uid)
    drop = ["setpriv", f"--reuid={uid}", f"--regid={uid}", "--clear-groups", "--no-new-privs"]
    if placeholder:
        drop = ["setpriv", "--clear-groups", "--no-new-privs", "--inh-caps=-all", "--ambient-caps=-all",
                "--bounding-set=-all"]
    return [*_bwrap_args(inputs, limits, list(extra_ro), [], info_fd), *drop, *rlimits, *argv]


class Identity:
    """Who a sandbox runs as, held for as long as its processes may live.

    As root: a uid from :data:`SANDBOX_UIDS`, leased with an exclusive ``flock`` on a file named after it, in a
    folder only root can write. The kernel drops the lock when the grader dies, so a crash leaks no lease. The
    lease outlives the sandbox's processes: :meth:`release` waits until none of them is left, so the next
    holder never inherits a half-dead process count. As another user: nothing to lease (``uid`` is None).
    """

    def __init__(self) -> None:
        self.uid: int | None = None
        self._fd: int | None = None
        if os.geteuid() != 0:
            return
        folder = _lease_folder()
        for _ in range(64):
            uid = random.choice(SANDBOX_UIDS)
            if _has_account(uid):
                continue
            fd = os.open(folder / str(uid), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                continue
            self.uid, self._fd = uid, fd
            return
        raise SandboxUnavailable(f"no free sandbox uid in {folder} after 64 tries")

    def release(self, wait_seconds: float = 10.0) -> None:
        if self._fd is None:
            return
        deadline = time.monotonic() + wait_seconds
        while _processes_of(self.uid) and time.monotonic() < deadline:
            time.sleep(0.02)
        os.close(self._fd)
        self._fd = None

    def __enter__(self) -> "Identity":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def _lease_folder() -> Path:
    base = Path("/run") if os.access("/run", os.W_OK) else Path(tempfile.gettempdir())
    folder = base / "gradcourse-sandbox-uids"
    try:
        folder.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise SandboxUnavailable(f"cannot create {folder}: {exc}") from exc
    st = os.lstat(folder)
    if not os.path.isdir(folder) or os.path.islink(folder) or st.st_uid != 0 or st.st_mode & 0o022:
        raise SandboxUnavailable(f"{folder} must be a folder owned by root and writable by root alone")
    return folder


def _has_account(uid: int) -> bool:
    try:
        pwd.getpwuid(uid)
    except KeyError:
        return False
    return True


def _processes_of(uid: int) -> bool:
    """Whether any process on the machine still runs with this real uid (a sandbox's pid namespace dies a moment
    after its bwrap, not at once)."""
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                if entry.stat(follow_symlinks=False).st_uid == uid:
                    return True
            except OSError:
                continue
    return False


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
    with Identity() as identity:
        return _run(command(argv, inputs, limits, extra_ro, identity), stdin, limits)


def _run(cmd: list[str], stdin: bytes, limits: Limits) -> Outcome:
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
    """Start a trivial sandboxed interpreter; raise SandboxUnavailable with the reason and the remedy if that
    fails."""
    try:
        outcome = run([sys.executable, "-I", "-c", "print('ok')"], limits=Limits(wall_seconds=20))
    except SandboxUnavailable as exc:  # bubblewrap itself refused: say why and what to do about it
        said = " ".join(str(exc).split())[:300]
        raise SandboxUnavailable(f"the sandbox did not start ({said}); {_remedy(said)}") from exc
    if outcome.stdout.strip() != b"ok":
        said = " ".join(outcome.stderr.decode(errors="replace").split())[:300]
        raise SandboxUnavailable(f"the sandbox did not start (exit {outcome.returncode}: {said}); {_remedy(said)}")


def _remedy(said: str) -> str:
    if os.geteuid() == 0:
        return "as root it needs nothing but bubblewrap and setpriv (util-linux)"
    if "namespace" in said or "uid map" in said or "Operation not permitted" in said:
        return ("this kernel does not let unprivileged users create user namespaces: enable them "
                "(sysctl kernel.unprivileged_userns_clone=1; on Ubuntu 24.04 and later "
                "kernel.apparmor_restrict_unprivileged_userns=0) or grade as root")
    return "check that bubblewrap works for this user: bwrap --unshare-user --ro-bind / / true"
