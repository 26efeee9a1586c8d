"""A class on a shared machine, as on a JupyterHub: an instructor and two learners, each a unix user of their own,
pass lab 00 around through nbgrader's exchange, and the instructor grades it with the course's hardened autograde,
without root.

What a hub rehearsal found, kept true here: every user can run the course's environment; grading as the
instructor works (the sandbox gets a user namespace) and leaves nothing only root may write, so hand grading works
afterwards; each learner fetches feedback in their own language with no hidden test in it, and nobody reads
anybody else's work; where the kernel refuses user namespaces, the course's command grades nothing and says
why; and a course whose config cannot import the course package grades nothing and makes no feedback, even
through plain `nbgrader`.

The commands and config files are those of book/*/instructors/jupyterhub.md: keep the page and this test in step.
"""
from __future__ import annotations

import fcntl
import hashlib
import json
import os
import pwd
import re
import secrets
import shutil
import subprocess
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from html import unescape
from pathlib import Path

import nbformat
import pytest

from gradcourse.grading.checks import CHECKS

REPO = Path(__file__).resolve().parents[1]
COURSE_ID = "tensor-backward"
SYSTEM_PYTHON = Path("/usr/bin/python3")  # Debian's: world-readable, unlike a Python under root's private home
TOOLS = ("useradd", "userdel", "runuser", "bwrap", "setpriv", "prlimit")

pytestmark = [
    pytest.mark.skipif(os.geteuid() != 0, reason="creates unix users (useradd) and acts as each of them: run as root"),
    pytest.mark.skipif(not all(map(shutil.which, TOOLS)) or not SYSTEM_PYTHON.exists(),
                       reason=f"needs {', '.join(TOOLS)} and {SYSTEM_PYTHON}"),
]

# The worked solution of ce_grad less its batch mean's 1/B: a bug that costs one check and nothing else (no other
# answer calls ce_grad, unlike softmax, whose bugs the worked softmax_jacobian inherits).
BUGGY = ("ce_grad", '''def ce_grad(z, y):
    """(N,), int -> (N,) gradient; (B, N), (B,) ints -> (B, N) gradient of the batch-mean loss."""
    p = np.exp(z - logsumexp(z, axis=-1, keepdims=True))
    if z.ndim == 1:
        p[y] -= 1.0
        return p
    p[np.arange(z.shape[0]), y] -= 1.0
    return p
''')
BUGGY_GRADE_ID, BUGGY_CHECK = "check-ce-grad-batch", "ce_grad.batch"
BWRAP_NO_USERNS = ("No permissions to creating new namespace, likely because the kernel does not allow "
                   "non-privileged user namespaces.")

# Run by the learner: their editor saving the answers into the notebook they fetched.
FILL = """
import json, sys, nbformat
path, answers = sys.argv[1], json.load(sys.stdin)
nb = nbformat.read(path, as_version=4)
for cell in nb.cells:
    cell.source = answers.get(cell.id, cell.source)
nbformat.write(nb, path)
"""
# Run by the instructor: what the gradebook holds, {student: {grade id: [cell type, auto score, max score]}}.
SCORES = """
import json, sys
from nbgrader.api import Gradebook
scores = {}
with Gradebook(sys.argv[1]) as gb:
    for assignment in gb.assignments:
        for sub in assignment.submissions:
            for nb in sub.notebooks:
                for g in nb.grades:
                    scores.setdefault(sub.student.id, {})[g.name] = [g.cell_type, g.auto_score, g.max_score]
print(json.dumps(scores))
"""
# Run by the instructor: the formgrader's hand grading, a write to the gradebook.
HAND_GRADE = """
import sys
from nbgrader.api import Gradebook
url, student, assignment, grade_id, score = sys.argv[1:]
with Gradebook(url) as gb:
    grade = gb.find_grade(grade_id, "lab00", assignment, student)
    grade.manual_score = float(score)
    gb.db.commit()
    print(gb.find_grade(grade_id, "lab00", assignment, student).score)
"""


# ------------------------------------------------------------------ an environment every user can run

def _run(cmd, **kwargs):
    proc = subprocess.run([str(c) for c in cmd], capture_output=True, text=True, **kwargs)
    assert proc.returncode == 0, f"{' '.join(map(str, cmd))}:\n{proc.stdout[-3000:]}\n{proc.stderr[-3000:]}"
    return proc


def _course_package(dest: Path) -> Path:
    """The package's sources alone: pip builds in the folder it is given, and must not write into the checkout."""
    dest.mkdir()
    shutil.copy(REPO / "pyproject.toml", dest)
    shutil.copytree(REPO / "gradcourse", dest / "gradcourse", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(REPO / "jupyter-config", dest / "jupyter-config")   # the wheel's data files
    return dest


def _pins(dest: Path) -> Path:
    """requirements.txt as a constraints file (pip refuses extras there), so the hub env gets the tested versions."""
    lines = [line.split("[")[0] + line[line.index("]") + 1:] if "[" in line else line
             for line in (REPO / "requirements.txt").read_text().splitlines() if line and not line.startswith("#")]
    dest.write_text("\n".join(lines) + "\n")
    return dest


@contextmanager
def _locked(path: Path, wait=True):
    """An exclusive lock on ``path``: yields False at once if ``wait`` is False and another run holds it."""
    with open(path, "w") as f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | (0 if wait else fcntl.LOCK_NB))
        except BlockingIOError:
            yield False
            return
        yield True


def _prune_other_envs(keep: Path) -> None:
    """Environments of older pins (half a gigabyte each), unless a run is using one right now."""
    for lock in keep.parent.glob("gradcourse-test-env-*.lock"):
        env = lock.with_suffix("")
        if env != keep:
            with _locked(lock, wait=False) as free:
                if free:
                    shutil.rmtree(env, ignore_errors=True)
                    lock.unlink()


@pytest.fixture(scope="module")
def hub_env(tmp_path_factory):
    """A virtualenv of Debian's Python in /opt, as a hub image has it, with the course installed from its
    sources as `gradcourse[learner,grader]`. Its dependencies are kept across runs (keyed by what pins them);
    the course package itself is reinstalled every run, so the test grades with today's code."""
    key = hashlib.sha256(b"".join((REPO / f).read_bytes() for f in ("requirements.txt", "pyproject.toml"))
                         + SYSTEM_PYTHON.resolve().name.encode()).hexdigest()[:12]
    env = Path(f"/opt/gradcourse-test-env-{key}")
    package = _course_package(tmp_path_factory.mktemp("src") / "gradcourse")
    started = time.perf_counter()
    with _locked(Path(f"{env}.lock")):
        if not (env / ".complete").exists():
            shutil.rmtree(env, ignore_errors=True)
            _run([SYSTEM_PYTHON, "-m", "venv", env])
            pins = _pins(tmp_path_factory.mktemp("pins") / "constraints.txt")
            _run([env / "bin" / "pip", "install", "--quiet", "--constraint", pins, f"{package}[learner,grader]"])
            (env / ".complete").touch()
            _prune_other_envs(env)
        _run([env / "bin" / "pip", "install", "--quiet", "--no-deps", "--force-reinstall",
              package])
    print(f"hub environment {env} ready in {time.perf_counter() - started:.0f} s")
    return env


# ------------------------------------------------------------------ users, and running as one of them

@dataclass
class User:
    name: str
    home: Path

    @property
    def uid(self) -> int:
        return pwd.getpwnam(self.name).pw_uid


def create_user(role: str) -> User:
    name = f"gc-{role}-{secrets.token_hex(3)}"  # unique, so reruns and other engineers' runs never collide
    # HOME_MODE 0700: a home others cannot enter (Debian's useradd makes 0755 homes unless login.defs says so).
    _run(["useradd", "--create-home", "--shell", "/bin/bash", "-K", "HOME_MODE=0700", name])
    return User(name, Path(pwd.getpwnam(name).pw_dir))


def remove_user(user: User) -> None:
    subprocess.run(["userdel", "--remove", "--force", user.name], capture_output=True)


def give(user: User, path: Path) -> None:
    """Hand a file or folder tree that root wrote to ``user``."""
    for where in [path, *path.rglob("*")]:
        os.chown(where, user.uid, user.uid, follow_symlinks=False)


def as_user(user: User, *argv, env: Path, cwd: Path | None = None, stdin: str | None = None, extra=None):
    """``argv`` run as ``user`` with the environment a hub's spawner gives a server: their HOME and name, the
    course's environment first on PATH, and nothing of root's."""
    variables = {"HOME": user.home, "USER": user.name, "LOGNAME": user.name, "LANG": "C.UTF-8",
                 "PATH": f"{env / 'bin'}:/usr/bin:/bin", **(extra or {})}
    cmd = ["runuser", "-u", user.name, "--", "env", "-i", *(f"{k}={v}" for k, v in variables.items()), *argv]
    return subprocess.run([str(c) for c in cmd], cwd=cwd or user.home, input=stdin, capture_output=True, text=True,
                          timeout=900)


def ok(proc) -> str:
    assert proc.returncode == 0, f"{proc.args}:\n{proc.stdout[-4000:]}\n{proc.stderr[-4000:]}"
    return proc.stdout + proc.stderr


def nbgrader_config(exchange: Path, course: Path | None = None) -> str:
    """Each user's ~/.jupyter/nbgrader_config.py: where the exchange is and which course; the instructor's also
    says where their course folder is (for the formgrader and nbgrader run from anywhere)."""
    lines = ["c = get_config()  # noqa: F821", f'c.Exchange.root = "{exchange}"',
             f'c.CourseDirectory.course_id = "{COURSE_ID}"']
    if course is not None:
        lines.append(f'c.CourseDirectory.root = "{course}"')
    return "\n".join(lines) + "\n"


def answers(lang: str, buggy: bool) -> dict[str, str]:
    """The worked solution of every answer cell, by cell id; ``buggy``: with :data:`BUGGY` in place."""
    release = nbformat.read(REPO / "grader" / "release" / f"lab00-{lang}" / "lab00.ipynb", as_version=4)
    solved = {c.id: c.source for c in nbformat.read(REPO / "solutions" / "labs" / lang / "lab00.ipynb", 4).cells}
    out = {}
    for cell in release.cells:
        meta = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and meta.get("solution"):
            out[cell.id] = BUGGY[1] if buggy and meta["grade_id"] == BUGGY[0] else solved[cell.id]
    return out


# ------------------------------------------------------------------ the class

@pytest.fixture(scope="module")
def classroom(hub_env):
    """Set up the three users, the exchange and the course, then run the whole term: release, fetch, solve,
    submit, collect, grade, feed back. Yields what every step said."""
    users = []
    shared = Path(tempfile.mkdtemp(prefix="gc-exchange-", dir="/tmp"))
    try:
        for role in ("instr", "learn1", "learn2"):
            users.append(create_user(role))
        instructor, en, es = users
        shared.chmod(0o755)
        exchange = shared / "exchange"
        exchange.mkdir()
        exchange.chmod(0o1777)  # as nbgrader's docs say: everyone writes, nobody removes another's files
        course = instructor.home / "course"
        course.mkdir()
        shutil.copy(REPO / "grader" / "nbgrader_config.py", course)
        shutil.copytree(REPO / "grader" / "source", course / "source")
        course.chmod(0o700)
        for user in users:
            jupyter = user.home / ".jupyter"
            jupyter.mkdir()
            (jupyter / "nbgrader_config.py").write_text(
                nbgrader_config(exchange, course if user is instructor else None))
            give(user, jupyter)
        give(instructor, course)
        # A package that is not there: this folder, first on PYTHONPATH, hides the installed one the way a
        # missing install does (the same ModuleNotFoundError, from the same import statement).
        missing = shared / "without-gradcourse" / "gradcourse"
        missing.mkdir(parents=True)
        (missing / "__init__.py").write_text(
            'raise ModuleNotFoundError("No module named \'gradcourse\'", name="gradcourse")\n')
        without_package = {"PYTHONPATH": missing.parent}
        # A kernel that refuses user namespaces to non-root users: bubblewrap stops with its own words for that.
        no_userns = shared / "without-user-namespaces"
        no_userns.mkdir()
        (no_userns / "bwrap").write_text(f"#!/bin/sh\necho 'bwrap: {BWRAP_NO_USERNS}' >&2\nexit 1\n")
        (no_userns / "bwrap").chmod(0o755)
        without_userns = {"PATH": f"{no_userns}:{hub_env / 'bin'}:/usr/bin:/bin"}

        def instr(*argv, **kw):
            return as_user(instructor, *argv, env=hub_env, cwd=course, **kw)

        times, out = {}, {}
        t0 = time.perf_counter()
        out["release"] = ok(instr("python", "-m", "gradcourse.instructor", "--course", course, "release",
                                  "--lab", "lab00"))
        for a in ("lab00-en", "lab00-es"):
            out["release"] += ok(instr("nbgrader", "release_assignment", a))
        times["release"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        for learner, lang in ((en, "en"), (es, "es")):
            assignment = f"lab00-{lang}"
            ok(as_user(learner, "nbgrader", "fetch_assignment", assignment, env=hub_env))
            notebook = learner.home / assignment / "lab00.ipynb"
            ok(as_user(learner, "python", "-c", FILL, notebook, env=hub_env,
                       stdin=json.dumps(answers(lang, buggy=learner is es))))
            ok(as_user(learner, "nbgrader", "submit", assignment, env=hub_env))
        times["learners fetch, solve, submit"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        for a in ("lab00-en", "lab00-es"):
            ok(instr("nbgrader", "collect", a))
        out["plain autograde without the package"] = instr("nbgrader", "autograde", "lab00-en", extra=without_package)
        out["autograde without user namespaces"] = instr("python", "-m", "gradcourse.instructor", "--course", course,
                                                         "autograde", extra=without_userns)
        out["scores before grading"] = ok(instr("python", "-c", SCORES, f"sqlite:///{course}/gradebook.db"))
        out["autograded before grading"] = sorted(p.name for p in (course / "autograded").rglob("*.ipynb"))
        out["autograde"] = instr("python", "-m", "gradcourse.instructor", "--course", course, "autograde",
                                 "--jobs", "2")
        times["autograde"] = time.perf_counter() - t0

        t0 = time.perf_counter()
        out["plain feedback without the package"] = instr("nbgrader", "generate_feedback", "lab00-en",
                                                          extra=without_package)
        out["feedback without the package"] = sorted(p.name for p in (course / "feedback").rglob("*.html"))
        ok(instr("python", "-m", "gradcourse.instructor", "--course", course, "feedback"))
        for a in ("lab00-en", "lab00-es"):
            ok(instr("nbgrader", "release_feedback", a))
        for learner, lang in ((en, "en"), (es, "es")):
            ok(as_user(learner, "nbgrader", "fetch_feedback", f"lab00-{lang}", env=hub_env))
        times["feedback"] = time.perf_counter() - t0

        out["scores"] = json.loads(ok(instr("python", "-c", SCORES, f"sqlite:///{course}/gradebook.db")))
        print("steps:", ", ".join(f"{step} {s:.0f} s" for step, s in times.items()))
        yield dict(env=hub_env, instructor=instructor, en=en, es=es, course=course, exchange=exchange, out=out,
                   instr=instr)
    finally:
        for user in users:
            remove_user(user)
        shutil.rmtree(shared, ignore_errors=True)


def feedback_of(learner: User, lang: str) -> Path:
    (html,) = (learner.home / f"lab00-{lang}" / "feedback").glob("*/lab00.html")
    return html


# ------------------------------------------------------------------ what must hold

def test_the_instructor_grades_every_submission_without_root(classroom):
    proc = classroom["out"]["autograde"]
    assert proc.returncode == 0, proc.stdout + proc.stderr
    assert "autograded 2 of 2 submissions" in proc.stdout and "NOT GRADED" not in proc.stdout, proc.stdout


def test_honest_learner_full_marks_buggy_learner_loses_exactly_the_bug(classroom):
    scores = classroom["out"]["scores"]
    honest, buggy = scores[classroom["en"].name], scores[classroom["es"].name]
    for grades in (honest, buggy):
        assert all(auto is not None for kind, auto, _ in grades.values() if kind == "code"), grades
    lost = {gid: top - auto for gid, (kind, auto, top) in buggy.items() if kind == "code" and auto < top}
    assert lost == {BUGGY_GRADE_ID: CHECKS[BUGGY_CHECK].points}, lost
    assert all(auto == top for kind, auto, top in honest.values() if kind == "code"), honest


def test_each_learner_fetches_feedback_in_their_language_without_hidden_tests(classroom):
    english = feedback_of(classroom["en"], "en").read_text(encoding="utf-8")
    spanish = feedback_of(classroom["es"], "es").read_text(encoding="utf-8")
    assert "the graded cell below" in english and "celda calificada de abajo" not in english
    assert "celda calificada de abajo" in spanish and "the graded cell below" not in spanish
    assert "la pérdida del lote es una media, divide entre B" in spanish  # the failed check's verdict
    for html in (english, spanish):
        text = unescape(re.sub(r"<[^>]+>", "", html))   # the code as the learner reads it, without highlighting
        # The test cells' hidden part (hidden=True) never reaches a learner.
        assert "BEGIN HIDDEN TESTS" not in text and "hidden=True" not in text


def test_nobody_reads_anybody_elses_work(classroom):
    en, es, course = classroom["en"], classroom["es"], classroom["course"]
    attempts = [(es, ["cat", feedback_of(en, "en")]), (en, ["cat", feedback_of(es, "es")]),
                (en, ["ls", course]), (es, ["cat", course / "gradebook.db"]),
                (es, ["cat", course / ".gradcourse-secret"]),
                (es, ["ls", classroom["exchange"] / COURSE_ID / "feedback"]),   # names derived from each one's secret
                (es, ["ls", classroom["exchange"] / COURSE_ID / "inbound"])]    # everyone's submissions
    for learner, argv in attempts:
        proc = as_user(learner, *argv, env=classroom["env"])
        assert proc.returncode != 0 and "Permission denied" in proc.stderr, (learner.name, argv, proc.stdout)


def test_grading_leaves_nothing_the_instructor_cannot_write(classroom):
    instructor, course = classroom["instructor"], classroom["course"]
    not_theirs = [p for p in [course, *course.rglob("*")] if p.lstat().st_uid != instructor.uid]
    assert not_theirs == []
    secret = (course / ".gradcourse-secret").stat()
    assert secret.st_mode & 0o777 == 0o600
    # Hand grading, as the formgrader does it: a write to the gradebook, as the instructor.
    learner = classroom["en"].name
    proc = classroom["instr"]("python", "-c", HAND_GRADE, f"sqlite:///{course}/gradebook.db", learner, "lab00-en",
                              "derivation-softmax", "2")
    assert float(ok(proc).split()[-1]) == 2.0


def test_without_the_course_package_plain_nbgrader_grades_nothing(classroom):
    proc, out = classroom["out"]["plain autograde without the package"], classroom["out"]
    said = proc.stdout + proc.stderr
    assert proc.returncode != 0, said
    assert "No module named 'gradcourse'" in said and 'pip install "gradcourse[grader]"' in said, said
    _nothing_graded(out)


def _nothing_graded(out):
    before = json.loads(out["scores before grading"])
    assert all(auto is None for grades in before.values() for _, auto, _ in grades.values()), before
    assert out["autograded before grading"] == []


def test_without_user_namespaces_the_instructor_is_told_and_nothing_is_graded(classroom):
    proc = classroom["out"]["autograde without user namespaces"]
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert proc.stderr.startswith("error: refusing to run learner code unconfined:"), proc.stderr
    assert BWRAP_NO_USERNS in proc.stderr
    _nothing_graded(classroom["out"])


def test_without_the_course_package_plain_nbgrader_releases_no_feedback(classroom):
    # Stock feedback keeps the hidden tests' source: without the course's feedback steps it must not be made.
    proc, out = classroom["out"]["plain feedback without the package"], classroom["out"]
    said = proc.stdout + proc.stderr
    assert proc.returncode != 0 and "No module named 'gradcourse'" in said, said
    assert out["feedback without the package"] == []
