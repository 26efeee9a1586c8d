"""Grading throughput: the course's hardened `nbgrader autograde` against stock nbgrader, same notebooks, same run.

    python bench/grading.py [--students 200] [--lab lab00] [--lang en]

A synthetic class (honest, buggy and a few misbehaving submissions, from the implementations the tests keep as
data) is graded twice in fresh copies of the course: once with the course's nbgrader_config.py (hardened), once
with that file minus the hardening (stock). Prints submissions per minute, median and p95 seconds per
submission (from nbgrader's own log timestamps), peak memory of any one process, and the ratio.
"""

from __future__ import annotations

import argparse
import itertools
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import nbformat

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from tests.labs.fixtures.implementations import IMPLEMENTATIONS  # noqa: E402

MISBEHAVING = ["while True:\n    pass\n", "import os\nos._exit(0)\n", "print('x' * 5_000_000)\n"]
STARTED = re.compile(r"^(\d+\.\d+) .*Autograding .*/autograded/([^/]+)/")


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run([sys.executable, "-m", "nbgrader", *args], cwd=course, env=env, capture_output=True,
                          text=True)


def make_course(dest: Path, hardened: bool) -> Path:
    shutil.copytree(ROOT / "grader" / "source", dest / "source")
    config = (ROOT / "grader" / "nbgrader_config.py").read_text()
    if not hardened:
        config = config[: config.index("from gradcourse.scoring.config import harden")]
    (dest / "nbgrader_config.py").write_text(config)
    return dest


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


def grade(course: Path, assignment: str) -> dict:
    assert nbgrader(course, "generate_assignment", assignment, "--force").returncode == 0
    roster = course / "students.csv"
    roster.write_text("id\n" + "".join(f"{p.name}\n" for p in sorted((course / "submitted").iterdir())))
    nbgrader(course, "db", "student", "import", str(roster))
    before = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    started = time.time()
    run = nbgrader(course, "autograde", assignment, "--force", "--Application.log_format=%(created)f %(message)s")
    wall = time.time() - started
    peak_kb = max(before, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
    stamps = [float(m.group(1)) for m in map(STARTED.match, run.stderr.splitlines()) if m]
    per = [b - a for a, b in zip(stamps, stamps[1:] + [started + wall])]
    return {"n": len(stamps), "wall": wall, "per": per, "peak_mb": peak_kb / 1024}


def row(name: str, r: dict) -> str:
    per = sorted(r["per"]) or [float("nan")]
    p95 = per[min(len(per) - 1, int(0.95 * len(per)))]
    return (f"{name:<10} {r['n']:>5} {r['wall']:>9.1f} {60 * r['n'] / r['wall']:>10.1f} "
            f"{statistics.median(per):>9.2f} {p95:>8.2f} {r['peak_mb']:>9.0f}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=200)
    parser.add_argument("--lab", default="lab00")
    parser.add_argument("--lang", default="en")
    args = parser.parse_args()
    assignment = f"{args.lab}-{args.lang}"
    results = {}
    with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
        for name, hardened in (("stock", False), ("hardened", True)):
            course = make_course(Path(tmp) / name, hardened)
            nbgrader(course, "generate_assignment", assignment, "--force")
            fill_class(course, assignment, args.lab, args.students)
            results[name] = grade(course, assignment)
    print(f"grading {args.students} submissions of {assignment} on {os.cpu_count()} cores")
    print(f"{'pipeline':<10} {'subs':>5} {'wall s':>9} {'subs/min':>10} {'median s':>9} {'p95 s':>8} {'peak MB':>9}")
    for name, r in results.items():
        print(row(name, r))
    ratio = (results["hardened"]["n"] / results["hardened"]["wall"]) / (results["stock"]["n"] / results["stock"]["wall"])
    print(f"throughput, hardened / stock: {ratio:.2f}x")
    return 0


if __name__ == "__main__":
    sys.exit(main())
