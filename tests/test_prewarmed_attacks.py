"""Red team of the warm start (zygote.py, prewarmed.py): learner code that tries to leave its sandbox, reach the
zygote or its helper, outlive its request or reach another student's sandbox. Each test asserts that the attack
fails (the first round found four holes, each fixed: a CLONE_PARENT sibling, a placeholder the learner could trace,
and the grader's session keyring, warm and cold). Where the cold start is the reference, the same attack runs
there too."""

from __future__ import annotations

import concurrent.futures
import ctypes
import os
import platform
import secrets
import subprocess
import time

import pytest

from gradcourse.scoring import prewarmed, sandbox
from gradcourse.scoring.session import LearnerProcess, _processes_in, _zombie

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="warm starts are used as root (a leased uid each)")
# Raw syscall numbers and the register layout of a ptrace take-over are those of x86_64.
x86_64 = pytest.mark.skipif(platform.machine() != "x86_64", reason="raw x86_64 syscalls")

# Loaded into every learner: what an attacker would paste into a cell. Nothing in it is a secret: the secrets are
# passed as two halves, so that a process that searches its memory never holds them side by side itself.
PRELUDE = r'''
import ctypes, errno, json, os, socket, stat, struct, sys, threading, time
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
libc.ptrace.restype = ctypes.c_long
libc.ptrace.argtypes = [ctypes.c_long, ctypes.c_long, ctypes.c_void_p, ctypes.c_void_p]
libc.shmat.restype = ctypes.c_void_p
libc.shmat.argtypes = [ctypes.c_int, ctypes.c_void_p, ctypes.c_int]
CLONE_NEWNS, CLONE_NEWUSER, CLONE_NEWPID, CLONE_PARENT, SIGCHLD = 0x20000, 0x10000000, 0x20000000, 0x8000, 17
SYS_CLONE, SYS_ADD_KEY, SYS_KEYCTL, KEY_SPEC_SESSION_KEYRING = 56, 248, 250, -3


def name(code):
    return errno.errorcode.get(code, str(code))


def c(result):
    """What a libc call came to: "ok", or the name of its errno."""
    return "ok" if result is not None and result >= 0 else name(ctypes.get_errno())


def py(fn, *args):
    """What a Python call came to: "ok", or the name of its errno."""
    try:
        fn(*args)
        return "ok"
    except OSError as exc:
        return name(exc.errno)


TICK = ("import os, sys, time\n"
        "def tick(path):\n"
        "    \"\"\"Counts in a file forever: whoever reads it twice sees whether this code still runs.\"\"\"\n"
        "    fd, n = os.open(path, os.O_RDWR | os.O_CREAT, 0o600), 0\n"
        "    while True:\n"
        "        n += 1\n"
        "        os.pwrite(fd, b'%012d' % n, 0)\n"
        "        time.sleep(0.01)\n"
        "if sys.argv[0] == '-c':\n"
        "    tick(sys.argv[1])\n")
exec(TICK)


def exec_tick(path):
    try:
        os.execv(sys.executable, [sys.executable, "-I", "-S", "-c", TICK, path])
    finally:
        os._exit(127)


def counting(paths, seconds=5.0):
    """Which of these tick files have started (the process behind each is running)."""
    deadline = time.monotonic() + seconds
    started = lambda p: os.path.exists(p) and os.path.getsize(p) >= 12
    while time.monotonic() < deadline and not all(map(started, paths)):
        time.sleep(0.02)
    return sorted(p for p in paths if started(p))


def memory_holds(first, second):
    """Whether first + second lies in this process's writable, shared or anonymous memory (where anything of the
    zygote's, or shared with another process, would be), without ever putting the halves side by side here."""
    first, second, hits = first.encode(), second.encode(), 0
    with open("/proc/self/maps") as maps:
        regions = [line.split() for line in maps]
    with open("/proc/self/mem", "rb", buffering=0) as mem:
        for region in regions:
            perms, path = region[1], region[5] if len(region) > 5 else ""
            if perms[0] != "r" or path in ("[vvar]", "[vsyscall]", "[vvar_vclock]"):
                continue
            if not ("w" in perms or "s" in perms or not path.startswith("/")):
                continue
            low, high = (int(x, 16) for x in region[0].split("-"))
            overlap = len(first) + len(second)
            for at in range(low, high, 1 << 24):  # in pieces: a large reservation must not count against RLIMIT_AS
                try:
                    mem.seek(at)
                    chunk = mem.read(min(high, at + (1 << 24) + overlap) - at)
                except OSError:
                    break
                found = chunk.find(first)
                while found >= 0:
                    hits += chunk[found + len(first):found + overlap] == second
                    found = chunk.find(first, found + 1)
    return hits > 0
'''

# Processes a cell leaves behind, each counting in a file of its own.
LEAVE_BEHIND = r'''
def leave_behind():
    def fork_child(path):
        if os.fork() == 0:
            try:
                tick(path)
            finally:
                os._exit(0)
    def daemon(path):  # orphaned in a session of its own: PID 1 adopts it
        pid = os.fork()
        if pid == 0:
            os.setsid()
            if os.fork() == 0:
                tick(path)
            os._exit(0)
        os.waitpid(pid, 0)
    def nested(path):  # in a PID namespace of its own, whose PID 1 it is
        r, w = os.pipe()
        pid = os.fork()
        if pid == 0:
            made = libc.unshare(CLONE_NEWUSER | CLONE_NEWPID) == 0
            os.write(w, b"1" if made else b"0")
            if made and os.fork() == 0:
                tick(path)
            os._exit(0)
        made = os.read(r, 1) == b"1"
        os.waitpid(pid, 0)
        return made
    fork_child("/tmp/child")
    daemon("/tmp/daemon")
    paths = ["/tmp/child", "/tmp/daemon"] + (["/tmp/nested"] if nested("/tmp/nested") else [])
    threading.Thread(target=tick, args=("/tmp/thread",), daemon=True).start()
    return counting(paths + ["/tmp/thread"])
'''

# clone(CLONE_PARENT): a child whose parent is the runner's own parent.
SIBLING = r'''
def sibling():
    pid = libc.syscall(SYS_CLONE, CLONE_PARENT | SIGCHLD, 0, 0, 0, 0)
    if pid == 0:
        exec_tick("/tmp/sibling")
    return [pid, counting(["/tmp/sibling"])]
'''

# ptrace every process of the sandbox the grader keeps alive, and make it exec the learner's own code.
TAKE_OVER = r'''
FIELDS = ("r15 r14 r13 r12 rbp rbx r11 r10 r9 r8 rax rcx rdx rsi rdi orig_rax rip cs eflags rsp ss fs_base gs_base "
          "ds es fs gs").split()


class Regs(ctypes.Structure):
    _fields_ = [(f, ctypes.c_ulonglong) for f in FIELDS]


def take_over(pid, argv):
    if libc.ptrace(16, pid, None, None) != 0:  # PTRACE_ATTACH
        return c(-1)
    os.waitpid(pid, 0x40000000)  # __WALL
    regs = Regs()
    libc.ptrace(12, pid, None, ctypes.byref(regs))  # PTRACE_GETREGS
    base = (regs.rsp - 8192) & ~0xF
    strings, pointers = b"", []
    for arg in argv:
        pointers.append(base + 512 + len(strings))
        strings += arg.encode() + b"\0"
    with open(f"/proc/{pid}/mem", "r+b", buffering=0) as mem:
        mem.seek(base)
        mem.write(struct.pack(f"<{len(pointers) + 1}Q", *pointers, 0))
        mem.seek(base + 512)
        mem.write(strings)
        mem.seek(regs.rip)
        mem.write(b"\x0f\x05")  # syscall
    regs.rax, regs.orig_rax = 59, 2**64 - 1  # execve, and no restart of the read it was blocked in
    regs.rdi, regs.rsi, regs.rdx = pointers[0], base, base + 8 * len(pointers)
    libc.ptrace(13, pid, None, ctypes.byref(regs))  # PTRACE_SETREGS
    libc.ptrace(17, pid, None, None)  # PTRACE_DETACH
    return "ok"


def take_over_kept():
    done = {}
    for pid in (1, 2):
        if pid != os.getpid():
            path = f"/tmp/kept-{pid}"
            done[str(pid)] = take_over(pid, [sys.executable, "-I", "-S", "-c", TICK, path])
    return [done, counting([f"/tmp/kept-{pid}" for pid, how in done.items() if how == "ok"])]
'''


def learner(source: str = "", warm: bool | None = True, **kw) -> LearnerProcess:
    """A started learner process with the prelude (and ``source``) loaded; ``warm``: whether it must be a warm
    start (these tests are about the warm start, which a silent fall-back to a cold one would pass) or a cold one
    (the reference), or either (None)."""
    process = LearnerProcess(**kw)
    report = process.run_cell("<prelude>", PRELUDE + source)
    started_as = isinstance(process._proc, prewarmed.WarmProcess)
    if not report.ok or warm not in (None, started_as):
        process.close()
    assert report.ok, report.error
    assert warm in (None, started_as), f"expected a {'warm' if warm else 'cold'} start"
    return process


@pytest.fixture(params=["warm", "cold"])
def start(request, monkeypatch):
    """Starts a learner the way the parameter says (a cold start being the reference for the warm one)."""
    if request.param == "cold":
        monkeypatch.setenv(prewarmed.COLD_ENV, "1")

    return lambda source="", **kw: learner(source, warm=request.param == "warm", **kw)


def ticking(process: LearnerProcess, paths: list[str], seconds: float = 1.0) -> list[str]:
    """Which of the sandbox's tick files still change after the request (read from outside, through the stopped
    runner's root): code of the learner's that runs while its interpreter waits for the next request."""
    root = f"/proc/{process._runner_host_pid}/root"

    def read(path: str) -> bytes | None:
        try:
            with open(root + path, "rb") as f:
                return f.read()
        except OSError:
            return None

    # SIGSTOP takes effect as each of the runner's threads is next scheduled: a thread may tick once more before.
    tasks = f"/proc/{process._runner_host_pid}/task"
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline and not all(_stopped(f"{tasks}/{tid}") for tid in os.listdir(tasks)):
        time.sleep(0.01)
    first = {path: read(path) for path in paths}
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        time.sleep(0.05)
        moved = sorted(path for path in paths if read(path) != first[path])
        if moved:
            return moved
    return []


def _stopped(task: str) -> bool:
    try:
        with open(f"{task}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] in ("T", "t", "Z", "X")
    except OSError:
        return True


def view(process: LearnerProcess) -> dict:
    """What a learner can see of its descriptors, mounts and status, to compare a warm start with a cold one."""
    source = r'''
def see():
    kinds = {stat.S_IFIFO: "pipe", stat.S_IFCHR: "char", stat.S_IFSOCK: "socket", stat.S_IFDIR: "dir",
             stat.S_IFREG: "file", stat.S_IFLNK: "link", stat.S_IFBLK: "block"}
    import resource
    fds = []
    for fd in range(resource.getrlimit(resource.RLIMIT_NOFILE)[0]):
        try:
            mode = os.fstat(fd).st_mode
        except OSError:
            continue
        target = os.readlink(f"/proc/self/fd/{fd}")
        fds.append([kinds.get(stat.S_IFMT(mode), "other"), "pipe" if target.startswith("pipe:") else target])
    mounts = []
    for line in open("/proc/self/mountinfo"):
        fields = line.split()
        rest = fields[fields.index("-") + 1:]
        mounts.append([fields[3], fields[4], fields[5], rest[0], rest[1]])
    status = dict(line.split(":\t", 1) for line in open("/proc/self/status").read().splitlines() if ":\t" in line)
    unix = open("/proc/net/unix").read().splitlines()[1:]
    return {"fds": sorted(fds), "mounts": sorted(mounts), "unix": unix,
            "status": {k: status[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "Seccomp",
                                                       "NoNewPrivs", "Groups")}}
'''
    assert process.run_cell("<see>", source).ok
    return process.function("see")()


def test_a_warm_learner_inherits_no_descriptor_mount_or_privilege_a_cold_one_lacks(monkeypatch):
    """The zygote holds its control socket and the helper the namespace descriptors and the status pipe: none of
    them, nor any other descriptor, may reach the learner, whose mounts must be the sandbox's exactly."""
    with learner() as process:
        seen = view(process)
    monkeypatch.setenv(prewarmed.COLD_ENV, "1")
    with learner(warm=False) as process:
        reference = view(process)
    assert seen == reference
    assert {kind for kind, _ in seen["fds"]} <= {"pipe", "char"}, seen["fds"]  # the channel, and /dev/null
    assert seen["unix"] == []  # no unix socket in its network namespace: the zygote's pair is not in it


def test_nothing_outside_the_sandbox_can_be_found_or_touched():
    """The zygote and its helper are outside the sandbox's PID namespace: no pid reaches them, and the sandbox's
    own PID 1 (root's) yields nothing either."""
    source = r'''
def reach():
    with open("/proc/sys/kernel/pid_max") as f:  # a PID namespace knows only its own pids: the bound is only a bound
        limit = min(int(f.read()), 1 << 16)
    answering = []
    for pid in range(1, limit + 1):
        try:
            os.kill(pid, 0)
            answering.append(pid)
        except PermissionError:
            answering.append(pid)
        except ProcessLookupError:
            pass
    listed = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    local = (ctypes.c_char * 16)()
    iov_local = struct.pack("PN", ctypes.addressof(local), 16)
    iov_remote = struct.pack("PN", 0x400000, 16)
    namespaces = ("ipc", "uts", "net", "cgroup", "pid", "mnt")
    return {
        "answering": answering, "listed": listed, "ppid": os.getppid(),
        "ptrace": c(libc.ptrace(16, 1, None, None)),
        "vm_readv": c(libc.process_vm_readv(1, iov_local, 1, iov_remote, 1, 0)),
        "kill": py(os.kill, 1, 9),
        "root": py(os.listdir, "/proc/1/root/"), "cwd": py(os.listdir, "/proc/1/cwd/"),
        "environ": py(lambda: open("/proc/1/environ", "rb").read()),
        "mem": py(lambda: open("/proc/1/mem", "rb").close()),
        "ns": {n: py(lambda: os.close(os.open(f"/proc/1/ns/{n}", os.O_RDONLY))) for n in namespaces},
    }
'''
    with learner(source) as process:
        seen = process.function("reach")()
        init = next(pid for pid, nspid in _processes_in(process._sandbox_ns) if nspid == 1)  # bwrap's, root's
        runner = process._runner_host_pid
        joined = {n: os.readlink(f"/proc/{runner}/ns/{n}") == os.readlink(f"/proc/{init}/ns/{n}")
                  for n in prewarmed.NAMESPACES}
        same_root = os.stat(f"/proc/{runner}/root/")[:3] == os.stat(f"/proc/{init}/root/")[:3]
    assert joined == dict.fromkeys(prewarmed.NAMESPACES, True) and same_root  # the sandbox's, every one
    assert seen["answering"] == seen["listed"] == [1, 2, 3]  # PID 1, the placeholder, the learner
    assert seen["ppid"] == 0
    for attempt in ("ptrace", "vm_readv", "kill", "root", "cwd", "environ", "mem"):
        assert seen[attempt] in ("EPERM", "EACCES"), (attempt, seen[attempt])
    assert set(seen["ns"].values()) <= {"EPERM", "EACCES"}, seen["ns"]


def test_the_sandbox_cannot_be_left_even_from_a_user_namespace_of_its_own():
    """setns into any namespace of the sandbox's processes, privileged calls, and the same from a user namespace
    the learner makes (where it holds every capability over what it owns): none reaches anything new."""
    source = r'''
def handle_of_the_host_root():
    """A file handle of the root directory of the file system the virtualenv is on (open_by_handle_at escape)."""
    class Handle(ctypes.Structure):
        _fields_ = [("bytes", ctypes.c_uint), ("type", ctypes.c_int), ("data", ctypes.c_ubyte * 128)]
    root = Handle(8, 1)  # FILEID_INO32_GEN: inode 2 (an ext file system's root), generation 0
    root.data[:8] = list(struct.pack("<II", 2, 0))
    fd = os.open(sys.prefix, os.O_RDONLY)
    try:
        return c(libc.open_by_handle_at(fd, ctypes.byref(root), os.O_RDONLY))
    finally:
        os.close(fd)

def join(path):
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError as exc:
        return name(exc.errno)
    try:
        return c(libc.setns(fd, 0))
    finally:
        os.close(fd)

def privileged():
    out = {
        "setuid": py(os.setuid, 0), "kill_1": py(os.kill, 1, 9), "chroot": py(os.chroot, "/tmp"),
        "unshare_mnt": c(libc.unshare(CLONE_NEWNS)),
        "mount": c(libc.mount(b"none", b"/tmp", b"tmpfs", 0, None)),
        "mknod": py(os.mknod, "/tmp/disk", 0o600 | stat.S_IFBLK, os.makedev(8, 0)),
        "sethostname": c(libc.sethostname(b"escaped", 7)),
        "handle": handle_of_the_host_root(),
        "sysrq": py(lambda: open("/proc/sysrq-trigger", "w").close()),
        "core_pattern": py(lambda: open("/proc/sys/kernel/core_pattern", "w").close()),
    }
    for ns in ("ipc", "uts", "net", "cgroup", "pid", "mnt"):
        out["setns_" + ns] = join(f"/proc/2/ns/{ns}")  # the placeholder's: the learner's own uid
    return out

def from_a_user_namespace():
    uid, before = os.getuid(), sorted(os.listdir("/"))
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:
        out = {}
        try:
            out["unshare"] = c(libc.unshare(CLONE_NEWUSER | CLONE_NEWNS))
            if out["unshare"] == "ok":
                for name, text in (("uid_map", f"0 {uid} 1"), ("setgroups", "deny"), ("gid_map", f"0 {uid} 1")):
                    with open(f"/proc/self/{name}", "w") as f:
                        f.write(text)
                out["remount_rw"] = c(libc.mount(None, sys.prefix.encode(), None, 0x20 | 0x1000, None))
                out["umount_tmp"] = c(libc.umount2(b"/tmp", 2))
                out["umount_venv"] = c(libc.umount2(sys.prefix.encode(), 2))
                out["proc"] = c(libc.mount(b"proc", b"/proc", b"proc", 0, None))
                for ns in ("mnt", "pid", "net"):
                    out["setns_" + ns] = join(f"/proc/2/ns/{ns}")
                out["handle"] = handle_of_the_host_root()
                out["same_root"] = sorted(os.listdir("/")) == before
                out["venv_writable"] = os.access(sys.prefix, os.W_OK)
        except Exception as exc:
            out["error"] = repr(exc)
        finally:
            os.write(w, json.dumps(out).encode())
            os._exit(0)
    os.close(w)
    data = os.read(r, 65536)
    os.waitpid(pid, 0)
    return json.loads(data)
'''
    with learner(source) as process:
        direct = process.function("privileged")()
        nested = process.function("from_a_user_namespace")()
    assert not [k for k, v in direct.items() if v == "ok"], direct
    if nested.get("unshare") != "ok":
        pytest.skip(f"this kernel refuses user namespaces to the learner ({nested})")
    assert "error" not in nested, str(nested)
    escapes = ("remount_rw", "umount_tmp", "umount_venv", "proc", "setns_mnt", "setns_pid", "setns_net", "handle")
    assert not [k for k in escapes if nested[k] == "ok"], nested
    assert nested["same_root"] and not nested["venv_writable"], nested


def test_no_path_but_tmp_is_writable():
    """/ and /dev are tmpfs mounts of bubblewrap's (root's); everything else is a read-only bind."""
    source = r'''
def writable():
    found, readonly = [], []
    for line in open("/proc/self/mountinfo"):
        fields = line.split()
        point, options = fields[4], fields[5].split(",")
        if point.startswith(("/proc", "/tmp")):
            continue
        if "ro" in options:
            readonly.append(bool(os.statvfs(point).f_flag & os.ST_RDONLY))
            continue
        for folder, subfolders, files in os.walk(point):
            subfolders[:] = [d for d in subfolders if not os.path.ismount(os.path.join(folder, d))]
            try:
                os.close(os.open(os.path.join(folder, ".written"), os.O_CREAT | os.O_WRONLY, 0o600))
                found.append(folder)
            except OSError:
                pass
    proc = [p for p in ("/proc/sysrq-trigger", "/proc/sys/kernel/core_pattern", "/proc/sys/kernel/hostname",
                        "/proc/sys/vm/drop_caches", "/proc/1/oom_score_adj") if os.access(p, os.W_OK)]
    return {"written": found, "readonly": readonly, "proc": proc, "tmp": os.access("/tmp", os.W_OK)}
'''
    with learner(source) as process:
        seen = process.function("writable")()
    assert seen["written"] == [] and seen["proc"] == [], seen
    assert seen["readonly"] and all(seen["readonly"]) and seen["tmp"]


def test_the_zygote_s_memory_maps_nothing_the_sandbox_does_not_show():
    """The learner is a copy of the zygote's memory: a mapping of a file from outside, or a writable shared one
    (which the next fork would share), would be a way out or across."""
    source = r'''
def mappings():
    missing, shared, opened = [], [], []
    for line in open("/proc/self/maps"):
        parts = line.split(None, 5)
        path = parts[5].strip() if len(parts) == 6 else ""
        if "w" in parts[1] and "s" in parts[1]:
            shared.append(line)
        if path.startswith("/"):
            try:
                same = os.stat(path).st_ino == int(parts[4])
            except OSError:
                same = False
            if not same:
                missing.append(path)
    for entry in os.listdir("/proc/self/map_files"):
        try:
            os.close(os.open(f"/proc/self/map_files/{entry}", os.O_RDONLY))
            opened.append(entry)
        except OSError:
            pass
    return {"missing": sorted(set(missing)), "shared": shared, "opened": opened}
'''
    with learner(source) as process:
        seen = process.function("mappings")()
    assert seen == {"missing": [], "shared": [], "opened": []}


STORE = r'''
KEY = 0x67630001
def store(first, second):
    global KEPT
    secret = first + second
    KEPT = secret.encode() * 4
    os.environ["NOTES"] = secret
    open("/tmp/notes", "w").write(secret)
    done = {}
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind("\0gradcourse-notes")
    listener.listen()
    globals()["LISTENER"] = listener
    done["socket"] = "ok"
    shm = libc.shmget(KEY, 4096, 0o1666)
    done["shm"] = c(shm)
    if shm >= 0:
        ctypes.memmove(libc.shmat(shm, None, 0), secret.encode(), len(secret))
    queue = libc.msgget(KEY, 0o1666)
    done["msg"] = c(queue)
    if queue >= 0:
        message = struct.pack("l", 1) + secret.encode()
        done["msgsnd"] = c(libc.msgsnd(queue, message, len(secret), 0))
    mq = libc.mq_open(b"/gradcourse-notes", os.O_CREAT | os.O_RDWR, 0o666, None)
    done["mq"] = c(mq)
    if mq >= 0:
        done["mq_send"] = c(libc.mq_send(mq, secret.encode(), len(secret), 0))
    done["dev_shm"] = py(lambda: open("/dev/shm/notes", "w").write(secret))
    done["hostname"] = c(libc.sethostname(secret.encode(), len(secret)))
    return done
'''

LOOK = r'''
KEY = 0x67630001
def look(first, second):
    """Everything is searched for by its first half, and only then compared with the second."""
    found = {"memory": memory_holds(first, second)}  # before anything here joins the halves
    has = lambda text: first in text
    found["environ"] = has(open("/proc/self/environ").read()) or any(has(v) for v in os.environ.values())
    found["tmp"] = [entry for entry in os.listdir("/tmp") if "notes" in entry]
    found["unix"] = [line for line in open("/proc/net/unix").read().splitlines()[1:] if "gradcourse" in line]
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    found["connect"] = py(probe.connect, "\0gradcourse-notes")
    found["shm"] = c(libc.shmget(KEY, 0, 0))
    found["msg"] = c(libc.msgget(KEY, 0))
    found["mq"] = c(libc.mq_open(b"/gradcourse-notes", os.O_RDONLY, 0, None))
    found["dev_shm"] = os.path.exists("/dev/shm") and os.listdir("/dev/shm") != []
    found["hostname"] = has(socket.gethostname())
    found["pids"] = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
    return found
'''


def test_what_one_student_leaves_anywhere_does_not_reach_another():
    """Student A hides a secret in memory, the environment, /tmp, an abstract socket, SysV shared memory and
    message queues, a POSIX message queue, /dev/shm and the host name; student B, running at the same time and
    after A is gone, looks in each place (and in all of its memory, forked from the same zygote)."""
    first, second = secrets.token_hex(8), secrets.token_hex(8)
    absent = {"memory": False, "environ": False, "tmp": [], "unix": [], "connect": "ECONNREFUSED",
              "shm": "ENOENT", "msg": "ENOENT", "mq": "ENOENT", "dev_shm": False, "hostname": False,
              "pids": [1, 2, 3]}
    with learner(STORE + LOOK) as a:
        done = a.function("store")(first, second)
        assert {k: done[k] for k in ("socket", "shm", "msg", "msgsnd", "mq", "mq_send")} == dict.fromkeys(
            ("socket", "shm", "msg", "msgsnd", "mq", "mq_send"), "ok"), done  # each hiding place holds it
        assert done["dev_shm"] != "ok" and done["hostname"] == "EPERM", done
        with learner(LOOK) as b:
            assert b.function("look")(first, second) == absent
        assert a.function("look")(first, second)["memory"]  # the search finds what is there
    with learner(LOOK) as c:
        assert c.function("look")(first, second) == absent


def test_signals_reach_only_the_learner_s_own_processes():
    """kill(-1) reaches every process the learner may signal: only its own sandbox's (its placeholder, which
    ends that sandbox); another student's, graded at the same time, is untouched."""
    honest = "def double(x):\n    return 2 * x\n"
    with learner(honest) as other, learner(honest) as attacker:
        attacker.run_cell("<stop>", "import os, signal\nos.kill(-1, signal.SIGSTOP)\n")
        attacker.run_cell("<kill>", "import os, signal, time\nos.kill(-1, signal.SIGKILL)\ntime.sleep(1)\n", 5)
        assert attacker.function("double")(2) == 4  # restarted if it ended its sandbox (its placeholder is its uid)
        assert other.function("double")(21) == 42 and other.restarts == 0


def test_a_fork_bomb_starves_only_its_own_sandbox():
    """At its process limit, a learner cannot make another student's sandbox, or the grader, fail to start one."""
    bomb = r'''
def bomb():
    r, w = os.pipe()
    made = 0
    while True:
        try:
            pid = os.fork()
        except OSError:
            break
        if pid == 0:
            os.read(r, 1)
            os._exit(0)
        made += 1
    time.sleep(3)
    return made
'''
    spawn = ("def spawn():\n    pids = []\n    for _ in range(3):\n        pid = os.fork()\n        if pid == 0:\n"
             "            os._exit(0)\n        pids.append(pid)\n    return [os.waitpid(p, 0)[1] for p in pids]\n")
    with learner(bomb) as attacker:
        uid = attacker._identity.uid
        with concurrent.futures.ThreadPoolExecutor(1) as pool:
            made = pool.submit(attacker.function("bomb"))
            deadline = time.monotonic() + 10
            while _count_processes(uid) < attacker.limits.processes and time.monotonic() < deadline:
                time.sleep(0.02)
            assert _count_processes(uid) >= attacker.limits.processes  # at its limit now
            with learner(spawn) as other:
                assert other.function("spawn")() == [0, 0, 0]
            assert subprocess.run(["/bin/true"]).returncode == 0
            assert 0 < made.result() < attacker.limits.processes


def _count_processes(uid: int) -> int:
    count = 0
    for entry in os.scandir("/proc"):
        if entry.name.isdigit():
            try:
                count += len(os.listdir(f"/proc/{entry.name}/task")) if entry.stat().st_uid == uid else 0
            except OSError:
                continue
    return count


def test_processes_left_behind_do_not_run_between_requests(start):
    """A child, a daemon in a session of its own, a PID 1 of a PID namespace the learner nested, a thread."""
    with start(LEAVE_BEHIND) as process:
        paths = process.function("leave_behind")()
        assert {"/tmp/child", "/tmp/daemon", "/tmp/thread"} <= set(paths)  # each was running when the cell ended
        assert ticking(process, paths) == []


@x86_64
# The sibling's parent is the zygote's helper, outside the sandbox: its other children are strays too.
@pytest.mark.parametrize("start", ["cold", "warm"], indirect=True)
def test_a_sibling_made_with_clone_parent_does_not_run_between_requests(start):
    with start(SIBLING) as process:
        pid, paths = process.function("sibling")()
        assert pid > 0 and paths == ["/tmp/sibling"]
        assert ticking(process, paths) == []


@x86_64
# The placeholder (PID 2 of a warm start) runs as root with no capability: the learner can neither trace nor
# signal it.
@pytest.mark.parametrize("start", ["cold", "warm"], indirect=True)
def test_no_process_the_grader_keeps_can_be_made_to_run_learner_code(start):
    with start(TAKE_OVER) as process:
        done, paths = process.function("take_over_kept")()
        assert done["1"] == "EPERM"  # the sandbox's PID 1 is root's
        assert ticking(process, [f"/tmp/kept-{pid}" for pid in done]) == []


@x86_64
def test_nothing_the_learner_starts_outlives_its_sandbox():
    """Whatever escapes the clean-up between requests (above), closing the sandbox ends it: the PID namespace dies
    with its PID 1, and the uid is given back only when none of its processes is left."""
    with learner(LEAVE_BEHIND + SIBLING + TAKE_OVER) as process:
        uid = process._identity.uid
        process.function("leave_behind")()
        process.function("sibling")()
        process.function("take_over_kept")()
        inside = {(pid, _started(pid)) for pid, _ in _processes_in(process._sandbox_ns)}
        assert len(inside) >= 3  # PID 1, the placeholder, the runner (and whatever of the above still runs)
    assert not sandbox._processes_of(uid)
    # The same processes (pids are reused), unless dead. The sandbox's PID 1 may take a moment to end and be reaped:
    # a dying init waits for the kernel to kill every process of its namespace, and on a busy machine that took
    # longer than the test took to look.
    deadline = time.monotonic() + 10
    while (left := [pid for pid, started in inside if _started(pid) == started and not _zombie(pid)]) \
            and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not left, [_status(pid) for pid in left]


def _status(pid: int) -> str:
    try:
        with open(f"/proc/{pid}/status") as status:
            return " ".join(line.strip() for line in status if line.startswith(("Name", "State", "Uid", "NSpid")))
    except OSError:
        return f"{pid}: gone"


def _started(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return int(stat.read().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return None  # the sandbox's PID 1 may wait a moment to be reaped


# -- the grader's own session: its environment and its kernel keyring -------------------------------------------

KEYS = r'''
def add_key(secret):
    return c(libc.syscall(SYS_ADD_KEY, b"user", b"gradcourse-notes", secret.encode(), len(secret),
                          KEY_SPEC_SESSION_KEYRING))

def read_keys(names):
    found = {}
    for key in names:
        serial = libc.syscall(SYS_KEYCTL, 10, KEY_SPEC_SESSION_KEYRING, b"user", key.encode(), 0)  # KEYCTL_SEARCH
        if serial < 0:
            found[key] = c(-1)
            continue
        buffer = ctypes.create_string_buffer(4096)
        size = libc.syscall(SYS_KEYCTL, 11, serial, buffer, 4096)  # KEYCTL_READ
        found[key] = buffer.raw[:size].decode() if size >= 0 else c(-1)
    return found

def clear_keys():
    return c(libc.syscall(SYS_KEYCTL, 7, KEY_SPEC_SESSION_KEYRING))  # KEYCTL_CLEAR

def environment(first, second):
    readable = {}
    for pid in sorted(p for p in os.listdir("/proc") if p.isdigit()):
        try:
            readable[pid] = first in open(f"/proc/{pid}/environ", "rb").read().decode()
        except OSError:
            readable[pid] = False
    return {"memory": memory_holds(first, second), "environ": readable,
            "os_environ": [k for k, v in os.environ.items() if first in v or k.startswith("GRADCOURSE")]}
'''
GRADER_KEY = "gradcourse-grader-key"
SENTINEL = "GRADCOURSE_REDTEAM_SENTINEL"


_libc = ctypes.CDLL(None, use_errno=True)
_libc.syscall.restype = ctypes.c_long


def _join_session_keyring() -> None:
    """This thread (credentials, hence keyrings, are per thread) joins a session keyring of its own, as a grader
    run from a login (pam_keyinit), a systemd service (KeyringMode=private) or a container (runc) has one; the
    zygote and the sandboxes started from this thread inherit it."""
    assert _libc.syscall(250, 1, None) >= 0  # KEYCTL_JOIN_SESSION_KEYRING, anonymous


def _grader_key(value: str | None = None) -> str | None:
    """Puts the grader's key in its session keyring (with a value), or reads it back (None if it is gone)."""
    if value is not None:
        assert _libc.syscall(248, b"user", GRADER_KEY.encode(), value.encode(), len(value), -3) >= 0  # add_key
    serial = _libc.syscall(250, 10, -3, b"user", GRADER_KEY.encode(), 0)  # KEYCTL_SEARCH
    buffer = ctypes.create_string_buffer(256)
    size = _libc.syscall(250, 11, serial, buffer, 256) if serial >= 0 else -1  # KEYCTL_READ
    return buffer.raw[:size].decode() if size >= 0 else None


def _restart_zygote() -> None:
    with prewarmed._ZYGOTE._lock:
        prewarmed._ZYGOTE._stop()


@pytest.fixture(scope="module")
def grader_session():
    """A grader with a secret in its environment and a key in its session keyring, and a zygote started by it.
    Yields a function that runs a callable in that grader's thread."""
    first, second = secrets.token_hex(8), secrets.token_hex(8)
    with pytest.MonkeyPatch.context() as patch, \
            concurrent.futures.ThreadPoolExecutor(1, initializer=_join_session_keyring) as pool:
        patch.setenv(SENTINEL, first + second)
        pool.submit(_restart_zygote).result()
        yield lambda fn: pool.submit(fn).result(), (first, second)
        _restart_zygote()  # the next user starts one from a thread without this keyring


@x86_64
def test_nothing_of_the_grader_s_environment_reaches_a_warm_learner(grader_session):
    run, (first, second) = grader_session

    def look():
        with learner(KEYS) as process:
            return process.function("environment")(first, second)

    seen = run(look)
    assert seen == {"memory": False, "environ": dict.fromkeys(seen["environ"], False), "os_environ": []}
    assert set(seen["environ"]) == {"1", "2", "3"}


@x86_64
# runner.serve() joins a new session keyring before any learner code, warm or cold.
@pytest.mark.parametrize("cold", [False, True], ids=["warm", "cold"])
def test_the_grader_s_session_keyring_is_out_of_reach(grader_session, cold, monkeypatch):
    """Student A leaves a key in the session keyring for student B, who also reads the grader's key and then
    clears the grader's keyring (a Kerberos or NFS key of the grader's, say)."""
    run = grader_session[0]
    if cold:
        monkeypatch.setenv(prewarmed.COLD_ENV, "1")
    value, note = secrets.token_hex(16), secrets.token_hex(8)

    def attack():
        assert _grader_key(value) == value
        with learner(KEYS, warm=not cold) as a:
            a.function("add_key")(note)
        with learner(KEYS, warm=not cold) as b:
            found = b.function("read_keys")([GRADER_KEY, "gradcourse-notes"])
            b.function("clear_keys")()
        return found, _grader_key()

    found, kept = run(attack)
    reached = {"read the grader's key": found[GRADER_KEY] == value,
               "read another learner's key": found["gradcourse-notes"] == note,
               "cleared the grader's keys": kept != value}
    assert not [what for what, done in reached.items() if done], reached
