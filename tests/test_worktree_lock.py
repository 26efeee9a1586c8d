"""The lock that keeps the test processes from writing or copying the work tree at the same time holds: two
processes that each take it and sleep never overlap, and a holder that dies releases it."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

HERE = Path(__file__).parent
HOLD = """
import sys, time
sys.path.insert(0, {here!r})
from worktree import writing_or_copying
with writing_or_copying():
    start = time.monotonic()
    time.sleep(0.5)
    print(start, time.monotonic(), flush=True)
"""


def test_two_processes_take_turns():
    procs = [subprocess.Popen([sys.executable, "-c", HOLD.format(here=str(HERE))], stdout=subprocess.PIPE, text=True)
             for _ in range(2)]
    spans = sorted(tuple(map(float, p.communicate(timeout=30)[0].split())) for p in procs)
    assert all(p.returncode == 0 for p in procs)
    (_, first_end), (second_start, _) = spans
    assert second_start >= first_end, f"both held the lock at once: {spans}"


def test_a_holder_that_is_killed_releases_it():
    holder = subprocess.Popen([sys.executable, "-c", HOLD.replace("time.sleep(0.5)", "time.sleep(600)")
                               .format(here=str(HERE))])
    time.sleep(1.0)
    holder.kill()
    holder.wait()
    waiter = subprocess.run([sys.executable, "-c", HOLD.format(here=str(HERE))], capture_output=True, text=True,
                            timeout=30)
    assert waiter.returncode == 0 and waiter.stdout.strip()
