"""A pre-warmed interpreter, forked into each submission's fresh sandbox (run as a script by prewarmed.py).

A sandboxed interpreter spends most of its start-up importing NumPy, matplotlib and IPython, the same work for
every submission. This process does that work once, outside any sandbox and before any learner code exists:
the course stub, the IPython shell, the inline figure backend and one figure drawn, so fonts are loaded. It
runs no learner code, ever, and holds nothing of the course: no reference, no secret, no gradebook.

For each submission the grader starts a fresh bubblewrap sandbox (its own mount, PID, network, IPC and UTS
namespaces, a fresh /tmp, a uid of its own) around a placeholder process, and sends here that sandbox's
namespaces as file descriptors, with the channel's pipes. A fork (the "helper") joins those namespaces; its own
fork (the "learner") is then inside the sandbox, as its PID 1's sibling, drops to the sandbox's uid with the
sandbox's limits, no capabilities and no new privileges, and serves the grader as runner.py would. The helper
stays outside only to report the learner's pid and exit status. Each learner starts from this process's clean
memory: nothing one learner does reaches the next.

Used as root only (a leased uid per sandbox). As another user, the sandbox's namespaces belong to a user
namespace this process cannot join without giving up the barrier against nested user namespaces; the grader
starts a fresh interpreter in the sandbox instead (session.py).
"""

import ctypes
import json
import os
import resource
import signal
import socket
import sys
import traceback

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

NAMESPACES = ("ipc", "uts", "net", "cgroup", "pid", "mnt")  # the order they are joined in: the mount last
LIMITS = {"cpu": resource.RLIMIT_CPU, "as": resource.RLIMIT_AS, "fsize": resource.RLIMIT_FSIZE,
          "nproc": resource.RLIMIT_NPROC}
MAX_FDS = len(NAMESPACES) + 4
PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_NO_NEW_PRIVS = 1, 4, 38
PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 47, 4

_libc = ctypes.CDLL(None, use_errno=True)


def _check(result: int, what: str) -> None:
    if result != 0:
        err = ctypes.get_errno()
        raise OSError(err, f"{what}: {os.strerror(err)}")


def _prctl(option: int, arg: int = 0) -> None:
    _check(_libc.prctl(option, ctypes.c_ulong(arg), 0, 0, 0), f"prctl({option})")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32), ("inheritable", ctypes.c_uint32)]


def _drop_capabilities() -> None:
    """Setting a non-zero uid already clears them; this makes it explicit, and the check below proves it."""
    header, data = _CapHeader(0x20080522, 0), (_CapData * 2)()  # _LINUX_CAPABILITY_VERSION_3: two 32-bit words
    _check(_libc.capset(ctypes.byref(header), data), "capset")
    _prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL)


def _status_fields() -> dict:
    with open("/proc/self/status") as status:
        return dict(line.rstrip("\n").split(":\t", 1) for line in status if ":\t" in line)


def warm() -> None:
    """What every submission would import and set up before its first cell, done once."""
    import runner
    runner.prepare()  # the course stub, then the IPython shell with the notebook's namespace
    import matplotlib.pyplot as plt
    import numpy as np
    from IPython.core.pylabtools import print_figure

    import mathtext_cache
    import tight_png
    mathtext_cache.install()
    # One figure through the inline backend's own path loads the fonts, the renderer, mathtext (log-scale tick
    # labels) and the legend and colorbar machinery: each costs a few hundred milliseconds the first time.
    figure, (left, right) = plt.subplots(1, 2, figsize=(3, 1.5))
    left.loglog([1e-3, 1.0], [1.0, 1e-3], "o-", label="$h$")
    left.legend()
    left.set_title("t")
    image = right.imshow(np.eye(2), cmap="RdBu_r")
    figure.colorbar(image, ax=right)
    # The inline backend registered IPython's PNG printer as the first figure was made: each figure is drawn once,
    # starting with this one (through IPython's printer, should that not be its default one).
    if tight_png.install(runner.shell.shell(runner.namespace)):
        tight_png.png(figure)
    else:
        print_figure(figure, "png", bbox_inches="tight")
    mathtext_cache.parse_log_tick_labels(figure)
    plt.close("all")


def learner(request: dict, channel: list[int]) -> None:
    """In the sandbox's namespaces: become the sandbox's user, then serve. Never returns."""
    os.setsid()
    for name, value in request["limits"].items():
        resource.setrlimit(LIMITS[name], (value, value))
    resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    uid = request["uid"]
    os.setgroups([])
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    _drop_capabilities()
    _prctl(PR_SET_NO_NEW_PRIVS, 1)
    _prctl(PR_SET_DUMPABLE, 1)  # as after an exec: the learner's own tools may read its /proc entries
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)  # after the change of uid, which clears it
    fields = _status_fields()
    if fields.get("CapEff", "").strip("0") or fields.get("CapPrm", "").strip("0") or os.getuid() == 0 \
            or fields.get("NoNewPrivs") != "1":
        raise RuntimeError("the learner process kept privileges")
    os.chdir("/tmp")
    os.environ.clear()
    os.environ.update(request["env"])
    import runner
    os.makedirs(runner.shell.shell(runner.namespace).profile_dir.location, exist_ok=True)
    for target, fd in enumerate(channel):  # the channel's pipes become stdin, stdout and stderr
        os.dup2(fd, target)
    os.closerange(3, max(os.sysconf("SC_OPEN_MAX"), 1 << 16))
    runner.open_channel()
    runner.serve()
    sys.stdout.flush()
    os._exit(0)


def helper(request: dict, fds: list[int]) -> None:
    """Outside the sandbox: join its namespaces, fork the learner into them, report its pid and exit status."""
    signal.signal(signal.SIGCHLD, signal.SIG_DFL)
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    namespaces, channel, status_fd = fds[:len(NAMESPACES)], fds[len(NAMESPACES):-1], fds[-1]
    status = os.fdopen(status_fd, "w", buffering=1)
    try:
        outside = os.stat("/")
        for name, fd in zip(NAMESPACES, namespaces):
            if os.fstat(fd).st_ino != os.stat(f"/proc/self/ns/{name}").st_ino or name == "mnt":
                _check(_libc.setns(fd, 0), f"setns({name})")
            os.close(fd)
        inside = os.stat("/")
        if (inside.st_dev, inside.st_ino) == (outside.st_dev, outside.st_ino):
            raise RuntimeError("the sandbox's root is the machine's root")
        pid = os.fork()
    except BaseException as exc:  # noqa: BLE001 - reported to the grader, which refuses this sandbox
        status.write(f"error {type(exc).__name__}: {exc}\n")
        os._exit(1)
    if pid == 0:
        try:
            status.close()
            learner(request, channel)
        except BaseException:  # noqa: BLE001 - nothing of the learner's has run yet: the grader's fault to report
            traceback.print_exc()
        os._exit(125)
    for fd in channel:
        os.close(fd)
    status.write(f"pid {pid} {os.getpid()}\n")  # the learner's, and this helper's (its siblings' parent)
    _, code, usage = os.wait4(pid, 0)
    # Its peak resident memory (KiB) and CPU seconds: the helper is the only process that waits for the learner.
    status.write(f"exit {os.waitstatus_to_exitcode(code)} {usage.ru_maxrss} {usage.ru_utime + usage.ru_stime:.3f}\n")
    os._exit(0)


def main() -> None:
    control = socket.socket(fileno=int(sys.argv[1]))
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # helpers are reaped by the kernel
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)
    warm()
    control.sendall(b"ready\n")
    while True:
        message, fds, _, _ = socket.recv_fds(control, 65536, MAX_FDS)
        if not message:
            return
        request = json.loads(message)
        sys.stdout.flush()
        sys.stderr.flush()
        if os.fork() == 0:
            control.close()
            helper(request, fds)
        for fd in fds:
            os.close(fd)


if __name__ == "__main__":
    main()
