"""Autograde a class with several `nbgrader autograde` processes side by side, and split it across machines.

Each process grades its own students (the others are passed as ``student_id_exclude``), so the gradebook and
the autograded folders see exactly what one process per student would do; every submission still gets its own
fresh sandbox. ``--shard K/N`` picks the students whose id hashes to K: the same split on every machine, with no
coordinator, so any existing scheduler (GNU parallel, a Slurm job array) can run the N shards.
"""

from __future__ import annotations

import fnmatch
import hashlib
import re
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

# A submission's processing starts with nbgrader sanitizing it, and a failure is logged right after it. A
# database error (SQLite's "database is locked" after its busy timeout, a server gone) is logged the other way:
# nbgrader removes the submission's autograded files and stops the whole process, naming nobody; its grades may
# be half written, so the submission under way has failed too.
# Only nbgrader's own log lines count (they start with its prefix; a traceback's lines, which may quote a learner,
# do not). They drive the progress shown; what is graded in the end is decided from the files (cli.py).
_STARTED = re.compile(r"^\[AutogradeApp \| INFO\] Sanitizing .*?/submitted/([^/]+)/([^/]+)/")
_ERROR_HERE = re.compile(r"^\[AutogradeApp \| ERROR\] There was an error "
                         r"(processing assignment: |accessing the nbgrader database)")
_FAILED = re.compile(r"^\[AutogradeApp \| ERROR\] There was an error processing assignment '([^']+)' "
                     r"for student '([^']+)'")

def parse_shard(text: str) -> tuple[int, int]:
    m = re.fullmatch(r"(\d+)/(\d+)", text or "")
    if not m or not 0 <= int(m.group(1)) < int(m.group(2)):
        raise ValueError(f"--shard wants K/N with 0 <= K < N, e.g. 0/4; got {text!r}")
    return int(m.group(1)), int(m.group(2))


def in_shard(student: str, shard: tuple[int, int]) -> bool:
    k, n = shard
    return int.from_bytes(hashlib.sha256(student.encode()).digest()[:8], "big") % n == k


def split(students: list[str], jobs: int, per_job: int = 2, smallest: int = 40) -> list[list[str]]:
    """Shares of the class for ``jobs`` processes to take one after another: a few per process, so that one
    slow share (a notebook that loops until its time limit) does not leave the other cores idle at the end, and
    no more than that, since each share pays for one grading process's start (nbgrader's, then the pre-warmed
    interpreter's: about 5 CPU s, as much as 6 submissions of lab03): a share holds at least ``smallest`` students,
    so that starts stay under a tenth of the work. One process takes the whole class: it has no other core to
    leave idle. Round-robin over the sorted ids, so that every share gets a similar mix of students."""
    ordered = sorted(students)
    jobs = max(1, jobs)
    if jobs == 1:
        return [ordered] if ordered else []
    # Never fewer shares than processes asked for (a small class still gets --jobs processes), never more than
    # students; a large class gets a few shares per process.
    count = max(min(jobs, len(ordered)), min(jobs * per_job, len(ordered) // smallest), 1)
    return [share for share in (ordered[i::count] for i in range(count)) if share]


def one_pattern(wanted: list[str], present: set[str]) -> str | None:
    """A shell pattern for nbgrader's assignment id that matches every name in ``wanted`` and no other name in
    ``present`` (every assignment folder nbgrader could find), so that one process grades them all: each process
    costs a start of nbgrader, seconds. None where no simple pattern does (then one process per assignment)."""
    wanted = sorted(set(wanted))
    if len(wanted) == 1:
        return wanted[0]
    candidates = ["*"]
    if len({len(name) for name in wanted}) == 1:   # e.g. lab0[034]-en
        columns = [sorted(set(chars)) for chars in zip(*wanted)]
        if all(len(c) == 1 or all(ch.isalnum() for ch in c) for c in columns):
            candidates.append("".join(f"[{c[0]}]" if c[0] in "*?[" else c[0] if len(c) == 1 else f"[{''.join(c)}]"
                                      for c in columns))
    for pattern in candidates:
        if {name for name in present | set(wanted) if fnmatch.fnmatchcase(name, pattern)} == set(wanted):
            return pattern
    return None


@dataclass
class Progress:
    """Prints one line per submission: graded with its time, or not graded; thread-safe. ``failed`` holds every
    (student, assignment) nbgrader could not grade."""

    total: int
    done: int = 0

    def __post_init__(self):
        self._lock = threading.Lock()
        self.graded_pairs: set[tuple[str, str]] = set()
        self.failed_pairs: set[tuple[str, str]] = set()

    def graded(self, student: str, assignment: str, seconds: float) -> None:
        with self._lock:
            if (student, assignment) in self.failed_pairs:
                return
            self.graded_pairs.add((student, assignment))
            self.done += 1
            print(f"[{self.done}/{self.total}] autograded {student} {assignment} in {seconds:.2f} s", flush=True)

    def failed(self, student: str, assignment: str) -> None:
        with self._lock:
            if (student, assignment) not in self.failed_pairs:
                self.failed_pairs.add((student, assignment))
                self.graded_pairs.discard((student, assignment))
                print(f"    could not grade {assignment} for {student}", flush=True)


def follow(progress: Progress):
    """A log-line callback for one nbgrader process: a submission ends where the next one starts (or at exit),
    graded unless nbgrader reported an error for it in between."""
    current = []

    def close():
        if current:
            student, assignment, started, ok = current.pop()
            if ok:
                progress.graded(student, assignment, time.perf_counter() - started)

    def on_line(line):
        if line is None:
            return close()
        m = _STARTED.search(line)
        if m:
            close()
            current.append((m.group(1), m.group(2), time.perf_counter(), True))
        if _ERROR_HERE.search(line) and current:
            student, assignment, started, _ = current.pop()
            current.append((student, assignment, started, False))
            progress.failed(student, assignment)
        m = _FAILED.search(line)
        if m:
            progress.failed(m.group(2), m.group(1))

    return on_line


def run_groups(run, everyone: list[str], groups: list[list[str]], progress: Progress, jobs: int) -> int:
    """``run(exclude, on_line)`` runs one nbgrader process for one group; ``jobs`` at a time, each taking the next
    group when it is done; returns the worst exit code."""
    def one(group):
        exclude = ",".join(s for s in everyone if s not in set(group))
        on_line = follow(progress)
        try:
            return run(exclude, on_line)
        finally:
            on_line(None)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return max([0, *pool.map(one, groups)])


class LogFile:
    """nbgrader's whole log, every process's lines, in one file: the terminal shows one line per submission."""

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = threading.Lock()
        self.path.write_text("", encoding="utf-8")

    def tee(self, on_line):
        def both(line):
            if line is not None:
                with self._lock, open(self.path, "a", encoding="utf-8") as f:
                    f.write(line + "\n")
            return on_line(line)
        return both
