"""Grading throughput: the course's hardened pipeline against stock `nbgrader autograde`, same notebooks, same run.

    python bench/grading.py [--students 200] [--lab lab00 --lab lab03] [--mixed lab00,lab03,lab04 | --no-mixed]
                            [--lang en] [--jobs 1 --jobs 2] [--profile]

Classes: one per ``--lab`` (lab00 and lab03 unless given), and a mixed class (``--mixed``: lab00, lab03 and lab04,
which trains a model and draws plots) whose students each submitted every one of those labs, graded in one run
as an instructor would. Each class has ``--students`` submissions in all: honest, buggy and a few misbehaving
ones, from the implementations the tests keep as data. Each is graded in fresh copies of the course by stock
nbgrader (the course's nbgrader_config.py minus the hardening: ``nbgrader autograde``) and by the course's own
command (``python -m gradcourse.instructor autograde``, every submission in a fresh sandbox) with each ``--jobs``.

Printed per pipeline: submissions per minute, median and p95 seconds per submission (stock: from nbgrader's log
timestamps; hardened: from the command's progress lines, per grading process), CPU seconds per submission of all the
processes it started and of the warm learners (from the grading log; what a busy machine does not change), the peak
memory of any one of them (warm learners included), and throughput over stock's, each beside its target (issue #18:
8x stock on lab00 and lab03, 5x on the mixed class, 150 MB per grading process). Throughput is the machine's: stock
nbgrader runs one submission at a time on a machine whose cores it may all use, so the figure set against the target
is the run with a grading process per core; runs with fewer are printed for comparison.

``--profile`` then grades each class once more with one nbgrader process per pipeline, a clock around each step
(this file, run as ``--probe``, is that process), and prints where the time goes per submission.
"""

from __future__ import annotations

import argparse
import atexit
import functools
import itertools
import json
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]

TARGET_SPEEDUP = {"single": 8.0, "mixed": 5.0}   # issue #18: throughput over stock nbgrader's
TARGET_PEAK_MB = 150                              # issue #18: peak memory of one grading process
MISBEHAVING = ["while True:\n    pass\n", "import os\nos._exit(0)\n", "print('x' * 5_000_000)\n"]
STARTED = re.compile(r"^(\d+\.\d+) .*Autograding .*/autograded/([^/]+)/([^/]+)/")
GRADED = re.compile(r"^\[\d+/\d+\] autograded \S+ \S+ in ([\d.]+) s$", re.M)
# A warm learner is forked by the pre-warmed interpreter, which no grading process waits for: its memory and CPU
# reach the bench only through this line of the grading log.
LEARNER = re.compile(r"learner's peak memory (\d+) MB and CPU ([\d.]+) s")


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    from gradcourse.scoring import course as nbgrader_course
    return nbgrader_course.run(course, *args, timeout=3600)


def make_course(dest: Path, hardened: bool) -> Path:
    from gradcourse.scoring.course import CONFIG_FILE
    shutil.copytree(ROOT / "grader" / "source", dest / "source")
    config = (ROOT / "grader" / CONFIG_FILE).read_text() if hardened else stock_config()
    (dest / CONFIG_FILE).write_text(config)
    return dest


def stock_config() -> str:
    """The course's own nbgrader settings minus everything :func:`harden` sets: stock nbgrader, configured as this
    course configures it (course id, stubs, time limits)."""
    from traitlets.config import Config
    from traitlets.config.loader import PyFileConfigLoader

    from gradcourse.scoring.config import harden
    from gradcourse.scoring.course import CONFIG_FILE
    course = PyFileConfigLoader(CONFIG_FILE, str(ROOT / "grader")).load_config()
    hardening = Config()
    harden(hardening)
    lines = ["c = get_config()  # noqa: F821"]
    for section, values in course.items():
        lines += [f"c.{section}.{key} = {value!r}" for key, value in values.items()
                  if key not in hardening.get(section, {})]
    return "\n".join(lines) + "\n"


def fill_class(course: Path, assignment: str, lab: str, students: int) -> None:
    import nbformat

    from gradcourse.grading import pitfalls
    implementations = pitfalls.implementations()
    release = nbformat.read(course / "release" / assignment / f"{lab}.ipynb", as_version=4)
    stubs = [c.metadata["nbgrader"]["grade_id"] for c in release.cells
             if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
    choices = {s: [*implementations[s]["honest"].values(), *implementations[s]["wrong"].values()]
               for s in stubs if s in implementations}
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


def build_class(course: Path, labs: list[str], lang: str, submissions: int) -> list[str]:
    """Release ``labs`` and fill the class: ``submissions`` in all, every student submitting every lab."""
    assignments = [f"{lab}-{lang}" for lab in labs]
    students = -(-submissions // len(labs))
    for lab, assignment in zip(labs, assignments):
        assert nbgrader(course, "generate_assignment", assignment, "--force").returncode == 0
        fill_class(course, assignment, lab, students)
    roster = course / "students.csv"
    roster.write_text("id\n" + "".join(f"{p.name}\n" for p in sorted((course / "submitted").iterdir())))
    assert nbgrader(course, "db", "student", "import", str(roster)).returncode == 0
    return assignments


# Run a command and report the peak resident memory of the largest process it started, and the CPU seconds of all
# of them (bwrap's children included: each parent waits for its own), measured in a fresh process so earlier runs
# do not count. CPU seconds do not depend on what else the machine runs; wall seconds do.
PEAK = ("import resource, subprocess, sys\n"
        "code = subprocess.call(sys.argv[1:])\n"
        "use = resource.getrusage(resource.RUSAGE_CHILDREN)\n"
        "print('PEAK_KB', use.ru_maxrss, use.ru_utime + use.ru_stime, file=sys.stderr)\n"
        "sys.exit(code)\n")


def measured(command: list[str], course: Path) -> tuple[subprocess.CompletedProcess, float, float, float, float]:
    """Run; return the process, when it started, its wall seconds, its peak MB and its CPU seconds."""
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    started = time.time()
    run = subprocess.run([sys.executable, "-c", PEAK, *command], cwd=course, env=env, capture_output=True,
                         text=True)
    wall = time.time() - started
    peak_kb, cpu = re.findall(r"^PEAK_KB (\d+) ([\d.]+)$", run.stderr, re.M)[-1]
    return run, started, wall, int(peak_kb) / 1024, float(cpu)


def pattern_of(assignments: list[str]) -> str:
    return assignments[0] if len(assignments) == 1 else "*"  # the bench's courses hold only the class's labs


def grade_stock(course: Path, assignments: list[str]) -> dict:
    """Stock nbgrader as an instructor runs it: one ``nbgrader autograde`` over the class."""
    run, started, wall, peak, cpu = measured([sys.executable, "-m", "nbgrader", "autograde", "--force",
                                         f"--CourseDirectory.assignment_id={pattern_of(assignments)}",
                                         "--Application.log_format=%(created)f %(message)s"], course)
    stamps = [float(m.group(1)) for m in map(STARTED.match, run.stderr.splitlines()) if m]
    assert stamps, run.stderr[-2000:]
    per = [b - a for a, b in zip(stamps, stamps[1:] + [started + wall])]
    return {"n": len(stamps), "wall": wall, "per": per, "peak_mb": peak, "cpu": cpu}


def grade_course(course: Path, assignments: list[str], jobs: int) -> dict:
    run, _, wall, peak, cpu = measured([sys.executable, "-m", "gradcourse.instructor", "--course", str(course),
                                        "autograde", *assignments, "--jobs", str(jobs)], course)
    per = [float(m.group(1)) for m in GRADED.finditer(run.stdout)]
    assert per, run.stdout[-2000:] + run.stderr[-2000:]
    learners = [LEARNER.findall(log.read_text(errors="replace")) for log in (course / "logs").glob("autograde-*.log")]
    learners = [(int(mb), float(seconds)) for found in learners for mb, seconds in found]
    return {"n": len(per), "wall": wall, "per": per, "peak_mb": peak, "cpu": cpu + sum(s for _, s in learners),
            "learner_mb": max((mb for mb, _ in learners), default=0)}


def quantiles(per: list[float]) -> tuple[float, float]:
    per = sorted(per) or [float("nan")]
    return statistics.median(per), per[min(len(per) - 1, int(0.95 * len(per)))]


def report(title: str, kind: str, results: dict) -> None:
    """One row per pipeline; each hardened figure beside its target (and the stock row above it)."""
    target, cores = TARGET_SPEEDUP[kind], os.cpu_count() or 1
    print(f"\n{title}")
    print(f"{'pipeline':<13} {'subs':>5} {'wall s':>7} {'subs/min':>9} {'median s':>9} {'p95 s':>6} {'CPU/sub':>7}   "
          f"{'peak MB (target)':<20} {'vs stock (target)':<22}")
    stock = results["stock"]["n"] / results["stock"]["wall"]
    for name, r in results.items():
        median, p95 = quantiles(r["per"])
        speedup = r["n"] / r["wall"] / stock
        line = (f"{name:<13} {r['n']:>5} {r['wall']:>7.1f} {60 * r['n'] / r['wall']:>9.1f} {median:>9.2f} "
                f"{p95:>6.2f} {r['cpu'] / r['n']:>7.2f}   ")
        if name == "stock":
            print(line + f"{r['peak_mb']:<20.0f} {speedup:.2f}x")
            continue
        worst = max(r["peak_mb"], r.get("learner_mb", 0))   # a warm learner is a process of its own
        peak = f"{worst:.0f} (<= {TARGET_PEAK_MB}) {'ok' if worst <= TARGET_PEAK_MB else 'OVER'}"
        if r["jobs"] < cores:   # stock has the whole machine; so must the figure set against the target
            versus = f"{speedup:.2f}x (with {r['jobs']} of {cores} cores; the target is for all)"
        else:
            versus = f"{speedup:.2f}x (>= {target:g}x) {'met' if speedup >= target else 'MISSED'}"
        print(line + f"{peak:<20} {versus}")


# -- --profile: where the time goes ----------------------------------------------------------------------------

# (module, attribute path, step): each call's own time (minus the steps it calls) goes to its step, while nbgrader
# converts submissions. A name missing from this version of a module is skipped: its time goes to its caller's.
STEPS = [
    ("nbgrader.converters.base", "BaseConverter.convert_notebooks", "nbgrader's loop, other"),
    ("nbgrader.converters.base", "BaseConverter.init_destination", "remove the previous results (--force)"),
    ("nbgrader.converters.autograde", "Autograde.init_assignment", "gradebook: student, submission; copies"),
    ("nbgrader.converters.base", "BaseConverter.write_single_notebook", "write the notebook file"),
    ("nbgrader.converters.base", "BaseConverter.set_permissions", "file permissions"),
    ("nbconvert.exporters.notebook", "NotebookExporter.from_notebook_node", "nbconvert: notebook copies, normalize"),
    ("nbformat", "reads", "read notebook JSON"),
    ("nbformat", "writes", "serialize notebook JSON"),
    ("nbformat", "validate", "nbformat schema validation"),
    ("nbgrader.api", "Gradebook.__init__", "gradebook: open (engine, table checks)"),
    ("nbgrader.api", "Gradebook.close", "gradebook: close"),
    ("logging", "StreamHandler.emit", "log lines"),
    ("gradcourse.scoring.session", "LearnerProcess.__enter__", "sandbox: start"),
    ("gradcourse.scoring.session", "LearnerProcess._start", "sandbox: start"),   # on the first cell, and restarts
    ("gradcourse.scoring.session", "LearnerProcess.run_cell", "sandbox: learner cells"),
    ("gradcourse.scoring.session", "LearnerProcess.__exit__", "sandbox: stop"),
    ("gradcourse.scoring.autograde", "SandboxedGrading._verdict", "sandbox: checks (each call a round trip)"),
    # (stock: the synchronous faces nbconvert's ExecutePreprocessor calls)
    ("nbclient.client", "NotebookClient.start_new_kernel", "kernel: start"),
    ("nbclient.client", "NotebookClient.start_new_kernel_client", "kernel: start"),
    ("nbclient.client", "NotebookClient.wait_for_reply", "kernel: start"),
    ("nbclient.client", "NotebookClient.execute_cell", "kernel: cells and tests"),
    ("nbclient.client", "NotebookClient._cleanup_kernel", "kernel: stop"),
]
INSIDE = ("sandbox:", "kernel:")   # the learner's code and the checks; everything else is the grader's overhead


class Clock:
    """Own time per step, on the main thread, from the first submission on."""

    def __init__(self):
        self.own = defaultdict(float)
        self.cpu = defaultdict(float)   # this process's CPU (the sandbox's and kernel's are other processes)
        self.stack: list[list] = []
        self.first = self.last = self.first_cpu = None
        self.submissions = 0

    def enter(self, step: str) -> bool:
        if threading.current_thread() is not threading.main_thread() or (not self.stack and not step.startswith(
                "nbgrader's loop")):
            return False
        self.stack.append([step, time.perf_counter(), 0.0, time.process_time(), 0.0])
        return True

    def leave(self) -> None:
        step, started, inner, cpu_started, cpu_inner = self.stack.pop()
        spent, cpu = time.perf_counter() - started, time.process_time() - cpu_started
        self.own[step] += spent - inner
        self.cpu[step] += cpu - cpu_inner
        if self.stack:
            self.stack[-1][2] += spent
            self.stack[-1][4] += cpu

    def timed(self, step: str, fn):
        @functools.wraps(fn)
        def timed_call(*args, **kwargs):
            entered = self.enter(step)
            try:
                return fn(*args, **kwargs)
            finally:
                if entered:
                    self.leave()
        return timed_call


def process_started() -> float:
    """Wall time at which this process started (before the interpreter loaded anything), from /proc."""
    with open("/proc/self/stat") as f:
        ticks = int(f.read().rsplit(")", 1)[1].split()[19])
    with open("/proc/uptime") as f:
        uptime = float(f.read().split()[0])
    return time.time() - (uptime - ticks / os.sysconf("SC_CLK_TCK"))


def probe(out: str, trimmed: bool, argv: list[str]) -> None:
    """Be one nbgrader process (as :func:`gradcourse.scoring.course.run` starts it if ``trimmed``, else stock
    ``python -m nbgrader``) with a :class:`Clock`; write the clock to ``out`` at exit."""
    import importlib
    started = process_started()
    if trimmed:
        from gradcourse.scoring.course import quicken
        quicken()   # as course.run() starts nbgrader
    clock = Clock()
    for module, path, step in STEPS:
        try:
            owner = importlib.import_module(module)
        except ImportError:
            continue
        *outer, name = path.split(".")
        for part in outer:
            owner = getattr(owner, part)
        if hasattr(owner, name):
            setattr(owner, name, clock.timed(step, getattr(owner, name)))
    from nbconvert.exporters.exporter import Exporter
    from nbgrader.converters.autograde import Autograde
    stage = ["sanitize"]

    def init_preprocessors(self, _orig=Autograde._init_preprocessors):
        stage[0] = "sanitize" if self._sanitizing else "autograde"
        clock.submissions += self._sanitizing
        return _orig(self)

    def register_preprocessor(self, preprocessor, enabled=False, _orig=Exporter.register_preprocessor):
        done = _orig(self, preprocessor, enabled)
        if not isinstance(preprocessor, (type, str)):  # a class or a name comes back here as an instance
            self._preprocessors[-1] = clock.timed(f"{stage[0]}: {type(preprocessor).__name__}", preprocessor)
        return done

    Autograde._init_preprocessors, Exporter.register_preprocessor = init_preprocessors, register_preprocessor
    BaseConverter = importlib.import_module("nbgrader.converters.base").BaseConverter
    timed_loop = BaseConverter.convert_notebooks

    def convert_notebooks(self):
        clock.first, clock.first_cpu = time.time(), time.process_time()
        try:
            return timed_loop(self)
        finally:
            clock.last = time.time()

    BaseConverter.convert_notebooks = convert_notebooks

    @atexit.register
    def dump():
        usage = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        children = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
        now = time.time()
        Path(out).write_text(json.dumps({
            "start": (clock.first or now) - started, "start_cpu": clock.first_cpu, "exit": now - (clock.last or now),
            "own": clock.own, "cpu": clock.cpu, "submissions": clock.submissions, "self_mb": usage / 1024,
            "children_mb": children / 1024}))

    from nbgrader.apps.nbgraderapp import main
    sys.argv = ["nbgrader", *argv]
    main()


def profiled(course: Path, assignments: list[str], hardened: bool) -> dict:
    from gradcourse.scoring.course import env
    out = course / "probe.json"
    command = [sys.executable, __file__, "--probe", str(out), *(["--trimmed"] if hardened else []), "--",
               "autograde", "--force", f"--CourseDirectory.assignment_id={pattern_of(assignments)}"]
    run = subprocess.run(command, cwd=course, env=env(), capture_output=True, text=True)
    assert out.is_file(), run.stdout[-2000:] + run.stderr[-2000:]
    return json.loads(out.read_text())


def profile_table(title: str, stock: dict, hardened: dict) -> None:
    runs = {"stock": stock, "hardened": hardened}
    print(f"\nwhere the time goes, {title}: seconds per submission (wall, and CPU of the nbgrader process), one "
          "nbgrader process grading the class")
    print(f"{'step':<52} {'stock':>7} {'cpu':>6} {'hardened':>9} {'cpu':>6}")

    def line(label, values):
        print(f"{label:<52} " + " ".join(f"{v:>{w}}" for v, w in zip(values, (7, 6, 9, 6))))

    line("nbgrader start, per process (to the first submission)",
         [f"{r[k]:.2f}" for r in runs.values() for k in ("start", "start_cpu")])
    steps = sorted(set(stock["own"]) | set(hardened["own"]), key=lambda s: (
        s.startswith(INSIDE), -max(stock["own"].get(s, 0), hardened["own"].get(s, 0))))
    totals = {name: [[0.0, 0.0], [0.0, 0.0]] for name in runs}   # [outside, inside] x [wall, cpu]
    for step in steps:
        cells = []
        for name, r in runs.items():
            n = max(1, r["submissions"])
            for i, key in enumerate(("own", "cpu")):
                per = r[key].get(step, 0.0) / n
                totals[name][step.startswith(INSIDE)][i] += per
                cells.append(f"{per:.3f}" if step in r[key] else "-")
        line(f"  {step}", cells)
    line("grader overhead per submission (outside the learner's code)",
         [f"{v:.3f}" for name in runs for v in totals[name][0]])
    line("learner's code and checks per submission", [f"{v:.3f}" for name in runs for v in totals[name][1]])
    line("nbgrader exit, per process", [f"{r['exit']:.2f}" if i == 0 else "" for r in runs.values() for i in (0, 1)])
    line("peak MB: the nbgrader process; the largest child",
         [f"{r[k]:.0f}" for r in runs.values() for k in ("self_mb", "children_mb")])
    line("submissions", [str(r["submissions"]) if i == 0 else "" for r in runs.values() for i in (0, 1)])


# -- the run ----------------------------------------------------------------------------------------------------

def classes(args) -> list[tuple[str, str, list[str]]]:
    """(title, kind, labs) of each class to grade."""
    out = [(f"{lab}-{args.lang}", "single", [lab]) for lab in args.lab or ["lab00", "lab03"]]
    if args.mixed:
        labs = args.mixed.split(",")
        out.append((f"mixed class ({', '.join(f'{lab}-{args.lang}' for lab in labs)})", "mixed", labs))
    return out


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--probe"]:   # one nbgrader process of --profile, run by profiled()
        trimmed = argv[2] == "--trimmed"
        probe(argv[1], trimmed, argv[argv.index("--") + 1:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--students", type=int, default=200, help="submissions per class")
    parser.add_argument("--lab", action="append", help="a class of this lab (repeatable; default lab00 and lab03)")
    parser.add_argument("--mixed", default="lab00,lab03,lab04", help="labs of the mixed class (comma-separated)")
    parser.add_argument("--no-mixed", dest="mixed", action="store_const", const="", help="no mixed class")
    parser.add_argument("--lang", default="en")
    parser.add_argument("--jobs", type=int, action="append", help="grading processes of the course's pipeline "
                        "(repeatable; default: 1 and the number of cores)")
    parser.add_argument("--profile", action="store_true", help="also print where the time goes per submission")
    args = parser.parse_args(argv)
    jobs = args.jobs or sorted({1, os.cpu_count() or 1})
    for title, kind, labs in classes(args):
        results = {}
        with tempfile.TemporaryDirectory(prefix="bench-grading-") as tmp:
            pipelines = [("stock", False, 0)] + [(f"hardened -j{j}", True, j) for j in jobs]
            for name, hardened, j in pipelines:
                course = make_course(Path(tmp) / name.replace(" ", ""), hardened)
                assignments = build_class(course, labs, args.lang, args.students)
                results[name] = {**grade_course(course, assignments, j), "jobs": j} if hardened else \
                    grade_stock(course, assignments)
            report(f"grading {title}: {results['stock']['n']} submissions on {os.cpu_count()} cores", kind, results)
            if args.profile:
                probes = {}
                for name, hardened in (("stock", False), ("hardened", True)):
                    course = make_course(Path(tmp) / f"profile-{name}", hardened)
                    probes[name] = profiled(course, build_class(course, labs, args.lang, args.students), hardened)
                profile_table(title, probes["stock"], probes["hardened"])
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
