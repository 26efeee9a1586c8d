"""The gradebook while several graders write to it at once, graded for real on a small fake class.

- A PostgreSQL gradebook, as the scaling page sets it up: two shards graded at the same time must leave exactly
  the grades one process leaves in SQLite. The test starts its own throw-away PostgreSQL server (Debian's
  binaries, as an unprivileged user, on a unix socket in a temporary folder) and removes it afterwards.
- The SQLite gradebook under ``--jobs``: while the file is locked for longer than SQLite waits, a grade may fail,
  but it must then be retried or listed as not graded, never lost.
"""
from __future__ import annotations

import csv
import glob
import os
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from fnmatch import fnmatch
from pathlib import Path

import nbformat
import pytest
from nbgrader.api import Gradebook, SubmittedAssignment
from sqlalchemy import create_engine, text

from gradcourse.instructor import batch
from gradcourse.authoring.labgen import assignment
from gradcourse.scoring.autograde import course_secret
from labs import fakeclass  # tests/ has no __init__.py, so pytest puts it on sys.path
from labs.fixtures.implementations import IMPLEMENTATIONS

REPO = Path(__file__).resolve().parents[1]
LAB = "lab03"          # the quickest lab to grade; its two languages are two assignments
N_STUDENTS = 8       # every role once, two of them twice; all eight are the stressed ones below
ROLES = 6              # as in fakeclass: 3 honest roles, then 3 with a pitfall


@pytest.fixture(scope="module", autouse=True)
def venv_bin_on_path():
    """nbgrader shells out to `alembic` when it creates a gradebook, here as in the CLI's processes."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("PATH", str(Path(sys.executable).parent) + os.pathsep + os.environ.get("PATH", ""))
        yield


# ------------------------------------------------------------------ the course and its class

def cli(course, *args):
    return subprocess.run([sys.executable, "-m", "gradcourse.instructor", "--course", str(course), *args],
                          cwd=REPO, capture_output=True, text=True)


def cli_ok(course, *args) -> str:
    proc = cli(course, *args)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc.stdout


def implementation(stub: str, role: int) -> str:
    """Roles 0-2 hand in honest implementations, roles 3-5 the stub's first wrong ones (one pitfall each)."""
    honest, wrong = list(IMPLEMENTATIONS[stub]["honest"].values()), list(IMPLEMENTATIONS[stub]["wrong"].values())
    return wrong[role - 3] if 3 <= role < 3 + len(wrong) else honest[role % len(honest)]


def submit_class(course: Path) -> dict[tuple[str, str], int]:
    """Every student hands in LAB, half of them in each language; {(student, assignment): role}."""
    roles = {}
    for i in range(N_STUDENTS):
        student, name = f"s{i:02d}", assignment(LAB, ("en", "es")[i % 2])
        released = nbformat.read(course / "release" / name / f"{LAB}.ipynb", as_version=4)
        sources = {stub: implementation(stub, i % ROLES) for stub in fakeclass.stubs_in(released)}
        fakeclass.submit(course, student, name, fakeclass.fill(released, sources))
        roles[student, name] = i % ROLES
    return roles


@pytest.fixture(scope="module")
def class_template(tmp_path_factory):
    """A released course with the class's submissions, never graded; every test grades its own copy. The secret
    is made here so that all copies draw the same hidden inputs, as `cp -a` of a real course does."""
    course = tmp_path_factory.mktemp("template") / "grader"
    course.mkdir()
    shutil.copy(REPO / "grader" / "nbgrader_config.py", course)
    for source in (REPO / "grader" / "source").glob(f"{LAB}-*"):   # LAB only: one nbgrader run grades it all
        shutil.copytree(source, course / "source" / source.name)
    cli_ok(course, "release", "--lab", LAB)
    roles = submit_class(course)
    course_secret(course / ".gradcourse-secret")
    return course, roles


def copy_course(template: Path, dest: Path, db_url: str | None = None) -> Path:
    shutil.copytree(template, dest, symlinks=True)
    if db_url:     # a server gradebook: the copy starts without the file, and release fills the server's
        (dest / "gradebook.db").unlink()
        with open(dest / "nbgrader_config.py", "a", encoding="utf-8") as f:
            f.write(f'\nc.CourseDirectory.db_url = "{db_url}"\n')
        cli_ok(dest, "release", "--lab", LAB)
    return dest


def sqlite_url(course: Path) -> str:
    return f"sqlite:///{course / 'gradebook.db'}"


# ------------------------------------------------------------------ reading a gradebook back

def grade_rows(db_url: str) -> list[tuple]:
    """(student, assignment, notebook, cell, auto_score, max_score) of every grade, sorted."""
    with Gradebook(db_url) as gb:
        return sorted((sub.student.id, a.name, nb.name, g.name, g.auto_score, g.max_score)
                      for a in gb.assignments for sub in a.submissions for nb in sub.notebooks for g in nb.grades)


def submission_counts(db_url: str) -> Counter:
    with Gradebook(db_url) as gb:
        return Counter((s.student_id, s.assignment.name) for s in gb.db.query(SubmittedAssignment))


def autograded_totals(db_url: str) -> dict[tuple[str, str], float | None]:
    """{(student, assignment): points of its test cells}, None where a test cell has no score: the grade never
    landed."""
    totals = {}
    with Gradebook(db_url) as gb:
        for a in gb.assignments:
            for sub in a.submissions:
                cells = [g.auto_score for nb in sub.notebooks for g in nb.grades if g.cell_type == "code"]
                totals[sub.student.id, a.name] = None if None in cells else sum(cells)
    return totals


def graded_lines(stdout: str) -> list[tuple[str, str]]:
    """(student, assignment) of every "[k/n] autograded STUDENT ASSIGNMENT in ..." line."""
    return [tuple(line.split()[2:4]) for line in stdout.splitlines()
            if line.startswith("[") and line.split()[1:2] == ["autograded"]]


def not_graded_lines(stdout: str) -> set[tuple[str, str]]:
    """(student, assignment) listed under "NOT GRADED": two-space indented "  STUDENT ASSIGNMENT: why"."""
    after = stdout.split("NOT GRADED", 1)[1] if "NOT GRADED" in stdout else ""
    return {tuple(line.split(":")[0].split()) for line in after.splitlines() if line.startswith("  ")}


def read_csv(path: Path) -> list[list[str]]:
    with open(path, newline="", encoding="utf-8") as f:
        return sorted(csv.reader(f))


# ------------------------------------------------------------------ a private PostgreSQL server

def postgres_bin() -> Path | None:
    found = sorted(glob.glob("/usr/lib/postgresql/*/bin/pg_ctl"), key=lambda p: int(Path(p).parts[-3]))
    return Path(found[-1]).parent if found else None


class PrivatePostgres:
    """A throw-away server: its own data folder, a unix socket in that folder and no TCP port, trust
    authentication (nothing but the socket's folder reaches it). PostgreSQL refuses to run as root, so as root
    the server runs as `nobody`."""

    def __init__(self, bindir: Path):
        self.bin = bindir
        # A short path: a unix socket's path must fit in 107 bytes, which pytest's tmp_path may exceed.
        self.dir = Path(tempfile.mkdtemp(prefix="gradebook-pg-"))
        self.as_server_user = []
        if os.geteuid() == 0:
            shutil.chown(self.dir, "nobody", "nogroup")
            self.as_server_user = ["setpriv", "--reuid=nobody", "--regid=nogroup", "--clear-groups"]

    def _server(self, tool, *args):
        subprocess.run([*self.as_server_user, str(self.bin / tool), *args], check=True, capture_output=True,
                       text=True, cwd=self.dir)

    def _client(self, tool, *args):
        subprocess.run([str(self.bin / tool), "--host", str(self.dir), "--username=postgres", *args], check=True,
                       capture_output=True, text=True)

    def start(self):
        self._server("initdb", "--pgdata=data", "--username=postgres", "--auth=trust", "--encoding=UTF8",
                     "--no-sync")
        # fsync off: a crash may lose this server's data, which the test throws away anyway.
        self._server("pg_ctl", "start", "--pgdata=data", "--log=server.log", "--wait",
                     f"--options=-c listen_addresses='' -c unix_socket_directories={self.dir} -c fsync=off")

    def create_database(self, role: str, name: str) -> str:
        """A role and a database it owns, made as an instructor would; the course's db_url for them."""
        self._client("createuser", role)
        self._client("createdb", f"--owner={role}", name)
        return f"postgresql+psycopg://{role}@/{name}?host={self.dir}"

    def stop(self):
        try:
            if (self.dir / "data" / "postmaster.pid").exists():
                self._server("pg_ctl", "stop", "--pgdata=data", "--mode=fast", "--wait")
        finally:
            shutil.rmtree(self.dir, ignore_errors=True)


@pytest.fixture(scope="module")
def postgres():
    bindir = postgres_bin()
    if bindir is None:
        pytest.skip("no PostgreSQL server binaries in /usr/lib/postgresql/*/bin (Debian: apt-get install "
                    "postgresql; `make test` installs it through tools/system-deps)")
    server = PrivatePostgres(bindir)
    try:
        server.start()
        yield server
    finally:
        server.stop()


# ------------------------------------------------------------------ two shards on PostgreSQL

@pytest.fixture(scope="module")
def one_process(class_template, tmp_path_factory):
    """The reference: the class graded by one process into SQLite."""
    template, roles = class_template
    course = copy_course(template, tmp_path_factory.mktemp("sqlite") / "grader")
    cli_ok(course, "autograde", "--jobs", "1")
    return dict(course=course, roles=roles, totals=autograded_totals(sqlite_url(course)),
                export=cli_ok(course, "export"), summary=cli_ok(course, "summary"))


def test_the_reference_run_graded_honest_and_wrong_work(one_process):
    totals, roles = one_process["totals"], one_process["roles"]
    assert set(totals) == set(roles) and None not in totals.values()
    full = max(totals.values())
    assert all(totals[pair] == full for pair, role in roles.items() if role < 3)     # honest: full marks
    assert any(totals[pair] < full for pair, role in roles.items() if role >= 3)     # pitfalls lose points


@pytest.fixture(scope="module")
def two_shards(class_template, postgres, tmp_path_factory):
    """The same class graded into PostgreSQL by two shards started at the same time, as two machines would."""
    template, roles = class_template
    db_url = postgres.create_database("grader", "course")
    course = copy_course(template, tmp_path_factory.mktemp("postgres") / "grader", db_url)
    shards = [subprocess.Popen([sys.executable, "-m", "gradcourse.instructor", "--course", str(course), "autograde",
                                "--shard", f"{k}/2", "--jobs", "2"], cwd=REPO, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True) for k in (0, 1)]
    outputs = [shard.communicate()[0] for shard in shards]
    return dict(course=course, db_url=db_url, pairs=sorted(roles), returncodes=[s.returncode for s in shards],
                outputs=outputs, export=cli_ok(course, "export"), summary=cli_ok(course, "summary"))


def test_both_shards_succeed_and_split_the_class(two_shards):
    assert two_shards["returncodes"] == [0, 0], "\n\n".join(two_shards["outputs"])
    graded = [graded_lines(out) for out in two_shards["outputs"]]
    assert graded[0] and graded[1], "a shard graded nobody: the split did not happen"
    assert sorted(graded[0] + graded[1]) == two_shards["pairs"]      # each submission by one shard, once


def test_postgres_has_one_submission_per_student_and_assignment(two_shards):
    counts = submission_counts(two_shards["db_url"])
    assert counts == Counter({pair: 1 for pair in two_shards["pairs"]})


def test_postgres_grades_equal_the_single_process_sqlite_grades(two_shards, one_process):
    assert grade_rows(two_shards["db_url"]) == grade_rows(sqlite_url(one_process["course"]))


def test_export_and_summary_read_the_postgres_gradebook(two_shards, one_process):
    for name in ("grades.csv", "grades_by_lab.csv"):
        assert read_csv(two_shards["course"] / name) == read_csv(one_process["course"] / name), name
    assert two_shards["summary"] == one_process["summary"]
    assert f"{LAB}  check-" in two_shards["summary"]      # the per-check table is not empty


def wait_until_waiting_on_a_lock(engine, sessions: int, seconds: float = 120):
    deadline = time.monotonic() + seconds
    with engine.connect() as watch:
        while time.monotonic() < deadline:
            waiting = watch.execute(text("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                                         "AND wait_event_type = 'Lock'")).scalar()
            if waiting >= sessions:
                return
            watch.rollback()    # a fresh snapshot of pg_stat_activity on the next query
            time.sleep(0.1)
    raise AssertionError(f"{sessions} sessions never waited on the lock together")


def test_shards_opening_a_fresh_server_gradebook_at_once_all_start(postgres, tmp_path):
    """Every grader that opens nbgrader's gradebook creates its course row if it is missing; of shards that
    start at the same moment, all but one then hit a duplicate key. Here the row's table is locked while three
    shards register their students, so that all three find it missing and collide for certain."""
    db_url = postgres.create_database("racer", "race")
    Gradebook(db_url, "tensor-backward").close()        # as `release` leaves it: no row for nbgrader's default
    (tmp_path / "nbgrader_config.py").write_text(f'c = get_config()\nc.CourseDirectory.db_url = "{db_url}"\n')
    register = "import sys; from gradcourse.instructor.cli import _register_students as r; r(sys.argv[1], sys.argv[2:])"
    engine = create_engine(db_url)
    with engine.connect() as lock:
        lock.execute(text("LOCK TABLE course IN EXCLUSIVE MODE"))      # reads go on, the inserts wait
        shards = [subprocess.Popen([sys.executable, "-c", register, str(tmp_path), f"shard{k}-student"],
                                   cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
                  for k in range(3)]
        wait_until_waiting_on_a_lock(engine, len(shards))   # each has looked for the row and waits to insert it
        lock.commit()
    engine.dispose()
    outputs = [shard.communicate()[0] for shard in shards]
    assert [shard.returncode for shard in shards] == [0, 0, 0], "\n".join(outputs)
    with Gradebook(db_url) as gb:
        assert sorted(s.id for s in gb.students) == ["shard0-student", "shard1-student", "shard2-student"]


# ------------------------------------------------------------------ SQLite locked under --jobs

# pysqlite waits 5 s for a lock by default; a lock held longer makes some of the graders' writes fail.
LOCK_SECONDS = 7.0
# Two students per process: every process meets the lock, which stops it (and its share goes to the CLI's retry,
# one submission after another), so a larger class would only make the test slower.
STRESSED = "s0[0-7]"


def hold_write_lock(db: Path, seconds: float):
    """Another program holding the gradebook (a long transaction, a backup): no grader reads or writes it."""
    con = sqlite3.connect(db, isolation_level=None)
    try:
        con.execute("BEGIN EXCLUSIVE")
        time.sleep(seconds)
        con.execute("ROLLBACK")
    finally:
        con.close()


def autograde_with_a_lock(course: Path, *args) -> subprocess.CompletedProcess:
    """autograde; once the first submission is graded, the gradebook is locked for LOCK_SECONDS."""
    proc = subprocess.Popen([sys.executable, "-m", "gradcourse.instructor", "--course", str(course), "autograde",
                             *args], cwd=REPO, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    lines, locker = [], None
    for line in proc.stdout:
        lines.append(line)
        if locker is None and line.startswith("[1/"):
            locker = threading.Thread(target=hold_write_lock, args=(course / "gradebook.db", LOCK_SECONDS))
            locker.start()
    proc.wait()
    if locker:
        locker.join()
    return subprocess.CompletedProcess(proc.args, proc.returncode, "".join(lines), "")


def test_a_locked_sqlite_gradebook_loses_no_grade(class_template, one_process, tmp_path):
    template, _ = class_template
    course = copy_course(template, tmp_path / "grader")
    run = autograde_with_a_lock(course, "--jobs", "4", "--student", STRESSED)
    logs = "".join(p.read_text() for p in (course / "logs").glob("autograde-*.log"))
    assert "database is locked" in logs, "no grader met the lock: the test proved nothing\n" + run.stdout

    listed = not_graded_lines(run.stdout)
    got = autograded_totals(sqlite_url(course))
    stressed = {pair: total for pair, total in one_process["totals"].items() if fnmatch(pair[0], STRESSED)}
    assert len(stressed) == 8
    for pair, want in stressed.items():
        if pair in listed:
            continue                    # reported, with exit status 1: the instructor grades it again
        assert got.get(pair) == want, f"{pair} counted as graded, yet its grade is {got.get(pair)}\n{run.stdout}"
        student, name = pair
        assert (course / "autograded" / student / name / f"{LAB}.ipynb").is_file(), pair
    assert run.returncode == (1 if listed else 0), run.stdout


def test_a_database_error_fails_the_submission_under_way():
    """What nbgrader logs when the gradebook is locked while it grades s04 (the CLI's only view of it): the
    process stops there, so s04 must be retried, not counted as graded."""
    progress = batch.Progress(1)
    on_line = batch.follow(progress)
    for line in ("[AutogradeApp | INFO] Sanitizing /srv/course/grader/submitted/s04/lab03-en/lab03.ipynb",
                 "    sqlalchemy.exc.OperationalError: (sqlite3.OperationalError) database is locked",
                 "[AutogradeApp | ERROR] There was an error accessing the nbgrader database. This may occur if you "
                 "recently upgraded nbgrader.", None):
        on_line(line)
    assert progress.failed_pairs == {("s04", "lab03-en")} and not progress.graded_pairs


def test_a_missing_database_driver_is_named_before_anything_runs(tmp_path):
    """The rehearsal's trap: a postgresql URL without its driver. nbgrader only says it could not process each
    assignment; the CLI names the module and the package that brings it, and starts nothing."""
    course = tmp_path / "grader"
    course.mkdir()
    config = (REPO / "grader" / "nbgrader_config.py").read_text(encoding="utf-8")
    (course / "nbgrader_config.py").write_text(   # pg8000: a driver SQLAlchemy knows and the course never installs
        config + '\nc.CourseDirectory.db_url = "postgresql+pg8000://grader@/course?host=/nowhere"\n', encoding="utf-8")
    for command in ("release", "autograde"):
        run = cli(course, command)
        assert run.returncode == 2, run.stdout + run.stderr
        assert "needs the Python module pg8000" in run.stderr and '"gradcourse[grader]"' in run.stderr
