"""The sandbox that runs learner code: each limit is proven by a program that hits it."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from gradcourse.scoring import sandbox

ROOT = Path(__file__).resolve().parents[1]
FAST = sandbox.Limits(wall_seconds=15, cpu_seconds=5, memory_bytes=1024**3, processes=16)


def py(code: str, limits: sandbox.Limits = FAST, **kw) -> sandbox.Outcome:
    return sandbox.run([sys.executable, "-I", "-c", code], limits=limits, **kw)


@pytest.fixture(scope="module", autouse=True)
def available():
    sandbox.check_available()


def test_numpy_runs_and_the_answer_comes_back():
    out = py("import numpy as np; print(np.arange(4).sum())")
    assert out.ok and out.stdout.strip() == b"6"


def test_runs_as_a_user_of_its_own_with_an_empty_environment(monkeypatch):
    monkeypatch.setenv("NBGRADER_EXECUTION", "autograde")
    out = py("import os; print(os.getuid(), sorted(k for k in os.environ if 'NBGRADER' in k))")
    uid = int(out.stdout.split()[0])
    assert (uid in sandbox.SANDBOX_UIDS if os.geteuid() == 0 else uid == sandbox.NOBODY), uid
    assert b"NBGRADER" not in out.stdout


HOG = """
import threading, time
started = 0
try:
    while True:
        threading.Thread(target=time.sleep, args=(6,), daemon=True).start()
        started += 1
except RuntimeError:
    pass
print(started, flush=True)
time.sleep(6)
"""


def test_one_sandbox_at_its_process_limit_starves_no_other():
    """The process limit is counted per user by the kernel: a sandbox that opens threads until it is refused must
    leave the next sandbox its whole budget (the red team zeroed 23 of 32 honest students this way)."""
    limits = sandbox.Limits(wall_seconds=20, cpu_seconds=10, processes=16)
    hog = threading.Thread(target=lambda: py(HOG, limits))
    hog.start()
    time.sleep(2.5)  # the hog has reached its limit and sleeps
    out = py(HOG.replace("args=(6,)", "args=(0.5,)").replace("time.sleep(6)", ""), limits)
    hog.join()
    assert int(out.stdout.split()[0]) >= 12, out


def test_each_live_sandbox_has_its_own_uid():
    if os.geteuid() != 0:
        pytest.skip("only root leases uids")
    with sandbox.Identity() as a, sandbox.Identity() as b:
        assert a.uid != b.uid and {a.uid, b.uid} <= set(sandbox.SANDBOX_UIDS)


def test_an_unprivileged_instructor_gets_the_same_isolation(request):
    """Not root (an instructor on a JupyterHub): a user namespace per sandbox, learner seen as nobody, same
    limits, nothing of the caller's files."""
    if os.geteuid() != 0:
        pytest.skip("needs root to become another user for the test")
    home = Path(tempfile.mkdtemp(prefix="gradcourse-instructor-"))  # outside pytest's root-only folder
    secret = home / "secret.txt"
    secret.write_text("instructor only")  # readable by the instructor, so only the sandbox can hide it
    for path in (home, secret):
        os.chown(path, 65534, 65534)
    request.addfinalizer(lambda: shutil.rmtree(home, ignore_errors=True))
    inner = f"import os; print(os.getuid()); print(os.path.exists({str(secret)!r}))"
    code = (f"import sys; sys.path.insert(0, {str(ROOT)!r}); from gradcourse.scoring import sandbox; "
            f"o = sandbox.run(['/usr/bin/python3', '-I', '-c', {inner!r}]); "
            "print(o.stdout.decode(), o.stderr.decode()[-300:])")
    out = subprocess.run(["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups", "/usr/bin/python3", "-I",
                          "-c", code], capture_output=True, text=True, timeout=60, cwd="/",
                         env={"PATH": "/usr/bin:/bin", "HOME": str(home)})
    assert out.stdout.split()[:2] == ["65534", "False"], out.stdout + out.stderr


def test_no_network():
    out = py("import socket\ntry:\n socket.create_connection(('127.0.0.1', 22), timeout=2); print('open')\n"
             "except OSError as e: print('refused')")
    assert out.stdout.strip() == b"refused"


def test_course_files_and_home_are_invisible(tmp_path):
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "mine.txt").write_text("mine")
    out = py(
        "import os\n"
        f"print(os.path.exists({str(ROOT / 'grader')!r}), os.path.exists({str(ROOT / 'gradcourse')!r}),"
        f" os.path.exists({str(tmp_path)!r}), sorted(os.listdir('/input')))",
        inputs=tmp_path / "sub",
    )
    assert out.stdout.strip() == b"False False False ['mine.txt']"


def test_input_is_read_only(tmp_path):
    out = py("open('/input/x', 'w')", inputs=tmp_path)
    assert out.returncode != 0 and (b"Read-only file system" in out.stderr or b"Permission denied" in out.stderr)


def test_fork_bomb_is_contained():
    out = py("import os\nn = 0\ntry:\n    while True:\n"
             "        if os.fork() == 0:\n            import time; time.sleep(30)\n"
             "        n += 1\nexcept OSError:\n    print(n)")
    assert out.stdout.strip() and int(out.stdout) < FAST.processes and not out.timed_out


def test_memory_bomb_fails_inside():
    out = py("x = bytearray(4 * 1024**3); print('allocated')")
    assert out.returncode != 0 and b"MemoryError" in out.stderr


def test_tmp_is_writable_but_small():
    out = py("open('/tmp/small', 'wb').write(b'0' * 1000); print('small ok')\n"
             "f = open('/tmp/big', 'wb')\nfor _ in range(10_000): f.write(b'0' * 2**20)",
             limits=sandbox.Limits(tmp_bytes=32 * 2**20, file_bytes=2**40))
    assert out.stdout.strip() == b"small ok" and b"No space left on device" in out.stderr


def test_one_file_is_capped_by_the_file_size_limit():
    out = py("f = open('/tmp/big', 'wb')\nfor _ in range(64): f.write(b'0' * 2**20)\nf.flush()",
             limits=sandbox.Limits(tmp_bytes=2**30, file_bytes=4 * 2**20))
    assert out.returncode != 0 and b"File too large" in out.stderr


def test_infinite_loop_that_ignores_sigint_is_killed_on_time():
    out = py("import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass",
             limits=sandbox.Limits(wall_seconds=2, cpu_seconds=60))
    assert out.timed_out


def test_sleeping_forever_is_killed_on_time():
    out = py("import time; time.sleep(3600)", limits=sandbox.Limits(wall_seconds=2))
    assert out.timed_out


def test_huge_output_is_truncated_not_stored():
    out = py("import sys; sys.stdout.write('x' * 50_000_000)", limits=sandbox.Limits(output_bytes=1000))
    assert out.truncated and len(out.stdout) == 1000


def test_grading_refuses_without_a_sandbox_unless_told(monkeypatch):
    """Where bubblewrap is missing, grading stops with the reason; the explicit opt-out grades, and warns."""
    from traitlets.config import Config

    from gradcourse.scoring import autograde
    from gradcourse.scoring.session import LearnerProcess

    autograde._sandbox_starts.cache_clear()
    monkeypatch.setattr(sandbox.shutil, "which", lambda name: None)
    try:
        with pytest.raises(sandbox.SandboxUnavailable, match="allow_unsandboxed"):
            autograde.SandboxPolicy().confined()
        config = Config()
        config.SandboxPolicy.allow_unsandboxed = True
        with pytest.warns(UserWarning, match="WITHOUT A SANDBOX"):
            assert autograde.SandboxPolicy(config=config).confined() is False
        with LearnerProcess(confined=False) as learner:
            learner.run([("<cell>", "def double(x):\n    return 2 * x\n")])
            assert learner.function("double")(21) == 42
    finally:
        autograde._sandbox_starts.cache_clear()
