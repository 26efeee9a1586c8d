"""Grading throughput: the course's hardened pipeline against stock `nbgrader autograde`, same notebooks, same run.

    python bench/grading.py [--students 200] [--lab lab00 --lab lab03] [--lang en] [--jobs 1 --jobs 2]

A synthetic class (honest, buggy and a few misbehaving submissions, from the implementations the tests keep as
data) is graded in fresh copies of the course: by stock `nbgrader autograde` (the course's nbgrader_config.py
minus the hardening), and by the course's own command, `python -m gradcourse.instructor autograde`, with each
``--jobs`` (hardened: every submission in a fresh sandbox). Prints submissions per minute, median and p95
seconds per submission (stock: from nbgrader's log timestamps; hardened: from the command's progress lines, per
grading process), peak memory of any one process, and each pipeline's throughput over stock's.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from traitlets.config import Config
from traitlets.config.loader import PyFileConfigLoader

from gradcourse.grading import pitfalls
from gradcourse.scoring import course as nbgrader_course
from gradcourse.scoring.config import harden

ROOT = Path(__file__).resolve().parents[1]

IMPLEMENTATIONS = pitfalls.implementations()
MISBEHAVING = ["while True:\n    pass\n", "import os\nos._exit(0)\n", "print('x' * 5_000_000)\n"]
STARTED = re.compile(r"^(\d+\.\d+) .*Autograding .*/autograded/([^/]+)/")
GRADED = re.compile(r"^\[\d+/\d+\] autograded \S+ \S+ in ([\d.]+) s$", re.M)


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    return nbgrader_course.run(course, *args, timeout=1800)


def make_course(dest: Path, hardened: bool) -> Path:
    shutil.copytree(ROOT / "grader" / "source", dest / "source")
    config = (ROOT / "grader" / nbgrader_course.CONFIG_FILE).read_text() if hardened else stock_config()
    (dest / nbgrader_course.CONFIG_FILE).write_text(config)
    return dest


def stock_config() -> str:
    """The course's own nbgrader settings minus everything :func:`harden` sets: stock nbgrader, configured as this
    course configures it (course id, stubs, time limits)."""
    course = PyFileConfigLoader(nbgrader_course.CONFIG_FILE, str(ROOT / "grader")).load_config()
    hardening = Config()
    harden(hardening)
    lines = ["c = get_config()  # noqa: F821"]
    for section, values in course.items():
        lines += [f"c.{section}.{key} = {value!r}" for key, value in values.items()
                  if key not in hardening.get(section, {})]
    return "\n".join(lines) + "\n"


def fill_class(course: Path, assignment: str, lab: str, students: int) -> None:
    release = nbformat.read(course / "release" / assignment / f"{lab}.ipynb", as_version=4)
    stubs = [c.metadata["nbgrader"]["grade_id"] for c in release.cells
             if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
    choices = {s: [*IMPLEMENTATIONS[s]["honest"].values(), *(src for src, _ in IMPLEMENTATIONS[s]["wrong"].values())]
               for s in stubs if s in IMPLEMENTATIONS}
    bad = itertools.cycle(MISBEHAVING)
    for i in range(students):
        nb = nbformat.from_dict(release)
        for cell in nb.cells:
            gid = cell.metadata.get("nbgrader", {}).get("grade_id")
            if gid in choices:
                cell.source = choices[gid][i % len(choices[gid])]
        if i % 25 == 24:  # a few misbehave
            nb.cells.insert(2, nbformat.v4.new_code_cell(next(bad)))
        folder = course / "submitted" / f"s{i:03d}" / assignment
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{lab}.ipynb")


def prepare(course: Path, assignment: str) -> None:
    assert nbgrader(course, "generate_assignment", assignment, "--force").returncode == 0
    roster = course / "students.csv"
    roster.write_text("id\n" + "".join(f"{p.name}\n" for p in sorted((course / "submitted").iterdir())))
    nbgrader(course, "db", "student", "import", str(roster))


# Run a command and report the peak resident memory of the largest process it started (bwrap's children
# included: each parent waits for its own), measured in a fresh process so earlier runs do not count.
PEAK = ("import resource, subprocess, sys\n"
        "code = subprocess.call(sys.argv[1:])\n"
        "print('PEAK_KB', resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, file=sys.stderr)\n"
        "sys.exit(code)\n")


def measured(command: list[str], course: Path) -> tuple[subprocess.CompletedProcess, float, float, float]:
    """Run; return the process, when it started, its wall seconds and its peak MB."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    started = time.time()
    run = subprocess.run([sys.executable, "-c", PEAK, *command], cwd=course, env=env, capture_output=True,
                         text=True)
    wall = time.time() - started
    peak_kb = int(re.findall(r"^PEAK_KB (\d+)$", run.stderr, re.M)[-1])
    return run, started, wall, peak_kb / 1024


def grade_stock(course: Path, assignment: str) -> dict:
    prepare(course, assignment)
    run, started, wall, peak = measured([sys.executable, "-m", "nbgrader", "autograde", assignment, "--force",
                                         "--Application.log_format=%(created)f %(message)s"], course)
    stamps = [float(m.group(1)) for m in map(STARTED.match, run.stderr.splitlines()) if m]
    per = [b - a for a, b in zip(stamps, stamps[1:] + [started + wall])]
    return {"n": len(stamps), "wall": wall, "per": per, "peak_mb": peak}


def grade_course(course: Path, assignment: str, jobs: int) -> dict:
    prepare(course, assignment)
    run, _, wall, peak = measured([sys.executable, "-m", "gradcourse.instructor", "--course", str(course),
                                   "autograde", assignment, "--jobs", str(jobs)], course)
    per = [float(m.group(1)) for m in GRADED.finditer(run.stdout)]
    assert per, run.stdout[-2000:] + run.stderr[-2000:]
    return {"n": len(per), "wall": wall, "per": per, "peak_mb": peak}


def row(name: str, r: dict) -> str:
    per = sorted(r["per"]) or [float("nan")]
    p95 = per[min(len(per) - 1, int(0.95 * len(per)))]
    return (f"{name:<12} {r['n']:>5} {r['wall']:>9.1f} {60 * r['n'] / r['wall']:>10.1f} "
            f"{statistics.median(per):>9.2f} {p95:>8.2f} {r['peak_mb']:>9.0f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--lab", action="append", help="lab00 and lab03 unless given (repeatable)")
    parser.add_argument("--lang", default="en")
    parser.add_argument("--jobs", type=int, action="append", help="grading processes of the course's pipeline "
                        "(repeatable; default: 1 and the number of cores)")
    args = parser.parse_args()
    jobs = args.jobs or sorted({1, os.cpu_count() or 1})
    for lab in args.lab or ["lab00", "lab03"]:
        assignment = f"{lab}-{args.lang}"
        results = {}
        with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
            pipelines = [("stock", False, 0)] + [(f"hardened -j{j}", True, j) for j in jobs]
            for name, hardened, j in pipelines:
                course = make_course(Path(tmp) / name.replace(" ", ""), hardened)
                nbgrader(course, "generate_assignment", assignment, "--force")
                fill_class(course, assignment, lab, args.students)
                results[name] = grade_course(course, assignment, j) if hardened else grade_stock(course, assignment)
        print(f"\ngrading {args.students} submissions of {assignment} on {os.cpu_count()} cores")
        print(f"{'pipeline':<12} {'subs':>5} {'wall s':>9} {'subs/min':>10} {'median s':>9} {'p95 s':>8} "
              f"{'peak MB':>9} {'vs stock':>9}")
        stock = results["stock"]["n"] / results["stock"]["wall"]
        for name, r in results.items():
            print(row(name, r) + f" {r['n'] / r['wall'] / stock:>8.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
