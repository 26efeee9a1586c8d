"""Red-team classes through the real commands, hardened: no undeserved point, nothing else touched.

The classes (lab 00 in English, lab 05 in Spanish: see attacks.py) share one course folder and are graded as an
instructor grades a course: honest students first, alone, with `nbgrader autograde`; then every attacker of every
class, with honest controls among them, in one run of the course's own `autograde --jobs 2`. Each attacker's
automatic score must be what its attack deserves, the honest students' gradebook rows must be byte-for-byte what
they were, the controls must keep the score an honest student gets alone, every submission must end within its
budget, submissions that cannot be graded must be listed (and the command must say so in its exit status), and
feedback must stay small, inert and free of hidden tests and of the course secret.
"""

from __future__ import annotations

import json
import os
from html.parser import HTMLParser
import re
import shutil
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import nbformat
import numpy as np
import pytest

from gradcourse.grading.checks import CHECKS, checks_for, run_check
from gradcourse.grading.context import PUBLIC_SEED, seed_for
from gradcourse.scoring import course as nbgrader_course

from .attacks import FULL, LABS, NOT_GRADED, ZERO, Attack, Lab, public_answers

ROOT = Path(__file__).resolve().parents[2]
CONTROL = "x-control"  # the wrong base with no attack: what wrong code earns honestly (e.g. not mutating input)
# Small limits so that each misbehaving notebook costs seconds, not minutes.
SUBMISSION_SECONDS = 30
TEST_LIMITS = f"""
c.SandboxedGrading.cell_seconds = 5
c.SandboxedGrading.notebook_seconds = 8
c.SandboxedGrading.call_seconds = 3
c.SandboxedGrading.submission_seconds = {SUBMISSION_SECONDS}
"""
# Past its budget a submission still pays for nbgrader's own work and the sandbox's start.
SUBMISSION_BOUND = SUBMISSION_SECONDS + 30
NOTEBOOK_BYTES = 3_000_000
FEEDBACK_BYTES = 2_000_000
HONEST = sorted({student for lab in LABS for student in lab.honest})
# Tests of one class's outcomes run once per class.
each_lab = pytest.mark.parametrize("lab", LABS, ids=[lab.assignment for lab in LABS])


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    return nbgrader_course.run(course, *args, timeout=1800)


def course_cli(course: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run([sys.executable, "-m", "gradcourse.instructor", "--course", str(course), *args], env=env,
                          capture_output=True, text=True, timeout=1800)


def solution_sources(course: Path, lab: Lab) -> dict[str, str]:
    """The reference solutions as a learner would hand them in (without the solution markers)."""
    nb = nbformat.read(course / "source" / lab.assignment / lab.notebook, as_version=4)
    markers = ("### BEGIN SOLUTION", "### END SOLUTION")
    return {c.metadata["nbgrader"]["grade_id"]: "".join(line for line in c.source.splitlines(True)
                                                        if not any(m in line for m in markers))
            for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}


def build_submission(course: Path, lab: Lab, student: str, attack=None, honest: dict | None = None) -> None:
    """`student`'s notebook: the lab's solution with `honest` implementations in place of some of it, or the
    base `attack` names with what the attack changes."""
    folder = course / "submitted" / student / lab.assignment
    folder.mkdir(parents=True)
    nb = nbformat.read(course / "release" / lab.assignment / lab.notebook, as_version=4)
    base = lab.wrong if attack is not None and attack.base == "wrong" else solution_sources(course, lab)
    sources = {**base, **(honest or {})}
    if attack is not None:
        sources.update({**attack.replace, **(attack.build() if attack.build else {})})
    for cell in nb.cells:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if cell.cell_type == "code" and cell.metadata.get("nbgrader", {}).get("solution") and gid in sources:
            cell.source = sources[gid]
    if attack is not None and attack.cell:
        first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
        for _ in range(attack.repeat):
            nb.cells.insert(first_code + 1, nbformat.v4.new_code_cell(attack.cell))
    for cell in list(nb.cells) if attack is not None else []:
        gid = cell.metadata.get("nbgrader", {}).get("grade_id")
        if gid in attack.patch_meta:
            cell.metadata["nbgrader"].update(attack.patch_meta[gid])
        if gid == attack.duplicate:
            copy = nbformat.from_dict(json.loads(json.dumps(cell)))
            copy["id"] = nbformat.v4.nbbase.random_cell_id()  # Jupyter gives a pasted cell an id of its own
            nb.cells.insert(nb.cells.index(cell) + 1, copy)
    if attack is not None and attack.markdown:
        first_code = next(i for i, c in enumerate(nb.cells) if c.cell_type == "code")
        nb.cells.insert(first_code + 1, nbformat.v4.new_markdown_cell(attack.markdown,
                                                                       metadata=attack.markdown_meta or {}))
    if attack is not None and attack.kernelspec:
        nb.metadata["kernelspec"] = attack.kernelspec
    if attack is not None and attack.delete:
        nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") not in attack.delete]
    target = folder / lab.notebook
    if attack is not None and attack.name == "lone-surrogate":  # valid JSON, not valid UTF-8 once decoded
        target.write_text(nbformat.writes(nb).replace("SURROGATE", "\\ud800"))
    elif attack is not None and attack.link_to:
        target.symlink_to(course / attack.link_to)
    elif attack is not None and attack.raw is not None:
        target.write_bytes(attack.raw)
    else:
        nbformat.write(nb, target)
    for name, text in (attack.files if attack else {}).items():
        (folder / name).write_text(text)


def rows_of(db: Path, students: list[str]) -> bytes:
    """Every gradebook row that belongs to these students, all columns, in a stable order."""
    marks = ",".join("?" * len(students))
    mine = f"select n.id from submitted_notebook n join submitted_assignment sa on n.assignment_id = sa.id " \
           f"where sa.student_id in ({marks})"
    queries = [
        (f"select * from submitted_assignment where student_id in ({marks})", students),
        (f"select * from submitted_notebook where id in ({mine})", students),
        (f"select * from grade where notebook_id in ({mine}) order by id", students),
        (f"select * from comment where notebook_id in ({mine}) order by id", students),
        (f"select * from student where id in ({marks})", students),
    ]
    with sqlite3.connect(db) as con:
        return json.dumps([sorted(map(list, con.execute(q, args).fetchall()), key=str) for q, args in queries],
                          default=str).encode()


def auto_scores(db: Path, lab: Lab) -> dict[str, float]:
    """{student: automatic points} in this class's assignment."""
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "select sa.student_id, sum(coalesce(g.auto_score, 0)) from grade g "
            "join submitted_notebook n on g.notebook_id = n.id join submitted_assignment sa on n.assignment_id = sa.id "
            "join assignment a on sa.assignment_id = a.id "
            "join grade_cells gc on g.cell_id = gc.id where gc.cell_type = 'code' and a.name = ? group by 1",
            (lab.assignment,)).fetchall()
    return {student: score for student, score in rows}


def total_points(db: Path, lab: Lab) -> float:
    """The automatic points of this class's assignment."""
    with sqlite3.connect(db) as con:
        return con.execute(
            "select sum(gc.max_score) from grade_cells gc join base_cell bc on gc.id = bc.id "
            "join notebook n on bc.notebook_id = n.id join assignment a on n.assignment_id = a.id "
            "where gc.cell_type = 'code' and a.name = ?",
            (lab.assignment,)).fetchone()[0]


def points_of(names: str) -> float:
    """The points of these stubs (every check of each) and checks, as an attack's expected loss names them."""
    points = 0.0
    for name in names.split(","):
        checks = [CHECKS[name]] if name in CHECKS else checks_for(name)
        assert checks, f"{name!r} is neither a check nor a function with checks"
        points += sum(c.points for c in checks)
    return points


def graded_times(lab: Lab, out: str) -> dict[str, float]:
    """{student: seconds} of every submission of this class that the CLI reports as autograded."""
    line = re.compile(rf"autograded (\S+) {re.escape(lab.assignment)} in ([0-9.]+) s")
    return {student: float(t) for student, t in line.findall(out)}


def not_graded_listed(lab: Lab, out: str) -> set[str]:
    listed = out.split("NOT GRADED", 1)[-1] if "NOT GRADED" in out else ""
    return set(re.findall(rf"^  (x-\S+) {re.escape(lab.assignment)}: ", listed, re.M))


@pytest.fixture(scope="module")
def red_team(tmp_path_factory):
    course = tmp_path_factory.mktemp("redteam")
    for lab in LABS:
        shutil.copytree(ROOT / "grader" / "source" / lab.assignment, course / "source" / lab.assignment)
    config = (ROOT / "grader" / "nbgrader_config.py").read_text()
    if "harden(c)" not in config:  # the course config already calls it; a copy made before that still gets it
        config += "\nfrom gradcourse.scoring.config import harden\nharden(c)\n"
    (course / "nbgrader_config.py").write_text(config + TEST_LIMITS)
    release = course_cli(course, "release")  # every class's assignment, in one nbgrader run
    assert release.returncode == 0, release.stdout[-3000:] + release.stderr[-3000:]
    everyone = set()
    for lab in LABS:
        for student, honest in lab.honest.items():
            build_submission(course, lab, student, honest=honest)
        for attack in lab.attacks:
            build_submission(course, lab, f"x-{attack.name}", attack)
        build_submission(course, lab, CONTROL, Attack("control", "wrong", ZERO))
        for control, honest in lab.controls.items():
            build_submission(course, lab, control, honest=honest)
        everyone |= {*lab.honest, CONTROL, *lab.controls, *(f"x-{a.name}" for a in lab.attacks)}
    roster = course / "students.csv"
    roster.write_text("id\n" + "".join(f"{s}\n" for s in sorted(everyone)))
    assert nbgrader(course, "db", "student", "import", str(roster)).returncode == 0
    first = nbgrader(course, "autograde", "--CourseDirectory.assignment_id=*", "--student=h-*")
    assert first.returncode == 0, first.stdout[-3000:]
    before = rows_of(course / "gradebook.db", HONEST)
    started = time.perf_counter()
    batch = course_cli(course, "autograde", "--jobs", "2", "--student", "x-*")
    seconds = time.perf_counter() - started
    feedback = course_cli(course, "feedback")
    summary = course_cli(course, "summary")
    return {"course": course, "before": before, "seconds": seconds, "batch": batch, "feedback": feedback,
            "summary": summary}


@each_lab
def test_honest_students_keep_full_marks(red_team, lab):
    total = total_points(red_team["course"] / "gradebook.db", lab)
    scores = auto_scores(red_team["course"] / "gradebook.db", lab)
    assert total > 0 and all(scores[s] == total for s in lab.honest), scores


@pytest.mark.parametrize("lab, attack", [(lab, a) for lab in LABS for a in lab.attacks],
                         ids=[f"{lab.assignment}-{a.name}" for lab in LABS for a in lab.attacks])
def test_each_attack_gets_what_it_deserves(red_team, lab, attack):
    db = red_team["course"] / "gradebook.db"
    total = total_points(db, lab)
    scores = auto_scores(db, lab)
    score = scores.get(f"x-{attack.name}", 0.0)
    if attack.expect in (ZERO, NOT_GRADED):
        assert scores[CONTROL] < total / 4
        assert score <= scores[CONTROL], f"{attack.name} got {score - scores[CONTROL]} undeserved points"
    elif attack.expect == FULL:
        assert score == total, f"{attack.name} lost points: {score}/{total}"
    else:
        deserved = total - points_of(attack.expect.split(":", 1)[1])
        assert score == deserved, f"{attack.name}: {score}, expected {deserved}"


def test_what_could_not_be_graded_is_listed_and_the_exit_status_says_so(red_team):
    out = red_team["batch"].stdout
    expected = {lab.assignment: {f"x-{a.name}" for a in lab.attacks if a.expect == NOT_GRADED} for lab in LABS}
    assert {lab.assignment: not_graded_listed(lab, out) for lab in LABS} == expected, out[-3000:]
    assert red_team["batch"].returncode == (1 if any(expected.values()) else 0), out[-3000:]
    for lab in LABS:
        assert not set(graded_times(lab, out)) & expected[lab.assignment], \
            "a submission that was not graded was counted as autograded"


@each_lab
def test_honest_controls_in_the_attackers_batch_keep_their_solo_score(red_team, lab):
    total = total_points(red_team["course"] / "gradebook.db", lab)
    scores = auto_scores(red_team["course"] / "gradebook.db", lab)
    assert {c: scores.get(c) for c in lab.controls} == {c: total for c in lab.controls}, \
        red_team["batch"].stdout[-3000:]


@each_lab
def test_every_submission_ends_within_its_budget(red_team, lab):
    times = graded_times(lab, red_team["batch"].stdout)
    assert times and max(times.values()) < SUBMISSION_BOUND, sorted(times.items(), key=lambda kv: -kv[1])[:5]


def test_autograded_notebooks_stay_small(red_team):
    for nb in (red_team["course"] / "autograded").rglob("*.ipynb"):
        assert nb.stat().st_size < NOTEBOOK_BYTES, f"{nb}: {nb.stat().st_size} bytes"


def test_summary_survives_any_metadata(red_team):
    assert red_team["summary"].returncode == 0, red_team["summary"].stderr[-3000:]


def test_other_students_gradebook_rows_are_unchanged(red_team):
    assert rows_of(red_team["course"] / "gradebook.db", HONEST) == red_team["before"]


def test_the_batch_finishes_within_its_bound(red_team):
    bound = sum(lab.batch_seconds for lab in LABS)
    assert red_team["seconds"] < bound, f"{red_team['seconds']:.0f} s"


@each_lab
def test_feedback_is_small_and_has_no_hidden_tests(red_team, lab):
    pages = list((red_team["course"] / "feedback").glob(f"*/{lab.assignment}/*.html"))
    graded = [a for a in lab.attacks if a.expect != NOT_GRADED]
    secret = (red_team["course"] / nbgrader_course.SECRET_FILE).read_text().strip()
    assert red_team["feedback"].returncode == 0, red_team["feedback"].stdout[-3000:]
    assert len(pages) >= len(lab.honest) + 1 + len(lab.controls) + len(graded)
    assert len(secret) >= 32
    for page in pages:
        html = page.read_text(errors="replace")
        assert page.stat().st_size < FEEDBACK_BYTES, f"{page}: {page.stat().st_size} bytes"
        assert "BEGIN HIDDEN TESTS" not in html and "hidden=True" not in html, page
        assert "BEGIN SOLUTION" not in html, page
        assert secret not in html, page
        assert not live_learner_script(html), page


class _LiveParts(HTMLParser):
    """Script elements and event-handler attributes as a browser would parse them (escaped text is not one)."""

    def __init__(self):
        super().__init__()
        self.found, self._in_script = [], False

    def handle_starttag(self, tag, attrs):
        self._in_script = tag == "script"
        self.found += [value or "" for name, value in attrs if name.startswith("on")]

    def handle_data(self, data):
        if self._in_script:
            self.found.append(data)

    def handle_endtag(self, tag):
        self._in_script = False


def live_learner_script(html: str) -> list[str]:
    parser = _LiveParts()
    parser.feed(html)
    return [part for part in parser.found if "PWNED" in part or "document.title" in part]


@each_lab
def test_a_broken_submission_does_not_stop_the_batch(red_team, lab):
    scores = auto_scores(red_team["course"] / "gradebook.db", lab)
    graded = {f"x-{a.name}" for a in lab.attacks if a.expect != NOT_GRADED}
    assert graded <= set(scores), graded - set(scores)


def test_the_public_answers_table_passes_every_public_check_and_no_hidden_one():
    """The attack `public-answers-table` is a real threat: graded on the public inputs alone, it would get every
    point of lab 05. Run here, in this process, on the same functions the attacker's notebook defines."""
    namespace = {"np": np}
    for source in public_answers().values():
        exec(source, namespace)  # noqa: S102 - the test's own attack code
    for check in [*checks_for("layernorm_backward"), *checks_for("attention_backward")]:
        student = namespace[check.stub]
        assert run_check(check.name, student, PUBLIC_SEED).passed, check.name
        assert not run_check(check.name, student, seed_for("x-public-answers-table")).passed, check.name
