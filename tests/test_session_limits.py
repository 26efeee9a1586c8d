"""A learner process cannot hold the grader: every wait has a deadline, a broken channel ends the process, and
one budget bounds everything a submission does. Each case is a misbehaving learner that would hang or bloat the
grader without it."""

from __future__ import annotations

import os
import resource
import time

import numpy as np
import pytest

from gradcourse.scoring import sandbox
from gradcourse.scoring.session import Budget, LearnerProcess, LearnerTimeout

pytestmark = pytest.mark.usefixtures("sandbox_works")

HONEST = "import numpy as np\ndef double(x):\n    return 2 * x\n"
# Writes raw bytes on every descriptor that might be the channel to the grader (the learner can find it).
ON_EVERY_FD = ("import os\nfor fd in range(3, 64):\n    try:\n        os.write(fd, {data})\n"
               "    except OSError:\n        pass\n")


@pytest.fixture(scope="module")
def sandbox_works():
    sandbox.check_available()


def learner(**kw) -> LearnerProcess:
    return LearnerProcess(call_seconds=3, **kw)


def test_a_frame_announcing_two_gib_ends_that_process_not_the_grader():
    with learner() as p:
        p.run([("<cell 1>", HONEST)])
        started = time.monotonic()
        report = p.run_cell("<cell 2>", ON_EVERY_FD.format(data="(2**31).to_bytes(4, 'big')"), seconds=5)
        assert not report.ok and time.monotonic() - started < 5, report
        assert p.function("double")(21) == 42  # restarted, with the cells that loaded before


def test_an_answer_larger_than_any_check_expects_fails_that_call_quickly():
    with learner() as p:
        p.run([("<cell 1>", "import numpy as np\ndef big():\n    return np.zeros(9 * 10**6)\n" + HONEST)])
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        started = time.monotonic()
        with pytest.raises(Exception, match="too large"):   # the learner's own exception type, mirrored
            p.function("big")()
        assert time.monotonic() - started < 5
        grown_mb = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024
        assert grown_mb < 100, f"the grader grew by {grown_mb:.0f} MB"
        assert p.function("double")(np.arange(3)).tolist() == [0, 2, 4]


def test_replays_after_a_crash_cannot_outlast_the_budget():
    """Cells that sleep only when replayed, and a function that kills its interpreter at every call: without one
    budget for everything, each call would cost a restart and every slow replay again."""
    slow_on_replay = "import time\nif get_ipython().execution_count == 1:\n    time.sleep(2.5)\n"
    with learner(budget=Budget(12)) as p:
        p.run([("<cell 1>", HONEST + "def crash():\n    import os\n    os._exit(0)\n")])
        for i in range(4):
            p.run_cell(f"<cell {i + 2}>", slow_on_replay, seconds=3, count=i + 2)
        started = time.monotonic()
        for _ in range(20):
            try:
                p.function("crash")()
            except Exception:  # noqa: BLE001 - crashes and timeouts both end the call
                pass
        assert time.monotonic() - started < 14
        with pytest.raises(LearnerTimeout, match="budget"):
            p.function("double")(1)


def test_a_learner_that_stops_reading_cannot_block_the_grader():
    """The learner asks for a callback and never reads the answer: the grader's write must not block it."""
    code = ("import os, sys\ndef never_reads(f, x):\n    f(x)\n" "    import time; time.sleep(60)\n")
    with learner() as p:
        p.run([("<cell 1>", code)])
        started = time.monotonic()
        with pytest.raises(LearnerTimeout):
            p.function("never_reads")(lambda v: np.zeros(2 * 10**5), np.zeros(2 * 10**5))
        assert time.monotonic() - started < 6


def test_callbacks_are_not_evaluated_on_inputs_larger_than_the_call_sent():
    code = "def probe(f, z):\n    return f(__import__('numpy').zeros(10**6))\n"
    with learner() as p:
        p.run([("<cell 1>", code)])
        seen = []
        with pytest.raises(Exception, match="larger than"):
            p.function("probe")(lambda v: seen.append(np.size(v)) or v, np.zeros(3))
        assert seen == []


def test_a_flood_of_frames_does_not_fill_the_grader_s_memory():
    flood = ("import os, struct\nimport numpy as np\n"
             "def flood(f, x):\n"
             "    import sys; sys.path.insert(0, '/')\n"
             "    while True:\n        f(x)\n")
    with learner() as p:
        p.run([("<cell 1>", flood)])
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        with pytest.raises(LearnerTimeout):
            p.function("flood")(lambda v: v, np.zeros(3))
        assert (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024 < 100


def test_nothing_the_learner_started_outlives_its_request():
    """Processes a cell leaves behind (even in sessions of their own) would compete for the CPU with other
    students' sandboxes long after the cell: they are ended as soon as the cell's reply is in."""
    from gradcourse.scoring.session import _processes_in
    spawn = ("import os\nfor _ in range(5):\n    if os.fork() == 0:\n        os.setsid()\n        while True:\n"
             "            pass\n")
    with learner() as p:
        p.run([("<cell 1>", HONEST), ("<cell 2>", spawn)])
        inside = {nspid for _, nspid in _processes_in(p._sandbox_ns)}
        assert inside <= {p._runner_pid, *p._keep}, inside  # the sandbox's PID 1 (and a warm start's placeholder)
        assert p.function("double")(2) == 4


def cpu_seconds(pid: int) -> float:
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def test_threads_the_learner_started_do_not_run_between_requests():
    """A thread is part of the runner and cannot be killed alone: the runner is stopped between requests."""
    spin = ("import threading\ndef spin():\n    while True:\n        pass\n"
            "threading.Thread(target=spin, daemon=True).start()\n")
    with learner() as p:
        p.run([("<cell 1>", HONEST), ("<cell 2>", spin)])
        before = cpu_seconds(p._runner_host_pid)
        time.sleep(1.0)
        assert cpu_seconds(p._runner_host_pid) - before < 0.2
        assert p.function("double")(3) == 6
