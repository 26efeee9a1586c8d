"""A red-team class through the real commands, hardened: no undeserved point, nothing else touched.

Honest students are graded first, alone, with `nbgrader autograde`; then every attacker, with honest controls
among them, through the course's own `autograde --jobs 2`. Each attacker's automatic score must be what its attack
deserves (see attacks.py), the honest students' gradebook rows must be byte-for-byte what they were, the controls
must keep the score an honest student gets alone, every submission must end within its budget, submissions that
cannot be graded must be listed (and the command must say so in its exit status), and feedback must stay small,
inert and free of hidden tests.
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
import pytest

from gradcourse.grading.checks import checks_for
from gradcourse.scoring import course as nbgrader_course

from .attacks import ATTACKS, CONTROLS, FULL, NOT_GRADED, WRONG, ZERO, Attack

ROOT = Path(__file__).resolve().parents[2]
ASSIGNMENT = "lab00-en"
HONEST = ["h-ana", "h-bruno"]
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
GRADED_LINE = re.compile(r"autograded (\S+) lab00-en in ([0-9.]+) s")
# The stated bound for the whole attacker batch: what the limits above allow each misbehaving notebook, with room
# for a loaded machine (measured: about 210 s on 2 cores). A grader that hung on one submission would blow it.
BATCH_SECONDS = 900
FEEDBACK_BYTES = 2_000_000


def nbgrader(course: Path, *args: str) -> subprocess.CompletedProcess:
    return nbgrader_course.run(course, *args, timeout=1800)


def solution_sources(course: Path) -> dict[str, str]:
    """The reference solutions as a learner would hand them in (without the solution markers)."""
    nb = nbformat.read(course / "source" / ASSIGNMENT / "lab00.ipynb", as_version=4)
    markers = ("### BEGIN SOLUTION", "### END SOLUTION")
    return {c.metadata["nbgrader"]["grade_id"]: "".join(line for line in c.source.splitlines(True)
                                                        if not any(m in line for m in markers))
            for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}


def build_submission(course: Path, student: str, attack=None) -> None:
    folder = course / "submitted" / student / ASSIGNMENT
    folder.mkdir(parents=True)
    nb = nbformat.read(course / "release" / ASSIGNMENT / "lab00.ipynb", as_version=4)
    base = WRONG if attack is not None and attack.base == "wrong" else solution_sources(course)
    sources = {**base, **(attack.replace if attack else {})}
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
    target = folder / "lab00.ipynb"
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


def auto_scores(db: Path) -> dict[str, float]:
    with sqlite3.connect(db) as con:
        rows = con.execute(
            "select sa.student_id, sum(coalesce(g.auto_score, 0)) from grade g "
            "join submitted_notebook n on g.notebook_id = n.id join submitted_assignment sa on n.assignment_id = sa.id "
            "join grade_cells gc on g.cell_id = gc.id where gc.cell_type = 'code' group by 1").fetchall()
    return {student: score for student, score in rows}


def check_points(db: Path) -> tuple[float, dict[str, float]]:
    """Automatic points in all, and those of each function's checks."""
    with sqlite3.connect(db) as con:
        total = con.execute("select sum(max_score) from grade_cells where cell_type = 'code'").fetchone()[0]
    return total, {stub: sum(c.points for c in checks_for(stub)) for stub in WRONG}


@pytest.fixture(scope="module")
def red_team(tmp_path_factory):
    course = tmp_path_factory.mktemp("redteam")
    shutil.copytree(ROOT / "grader" / "source", course / "source")
    config = (ROOT / "grader" / "nbgrader_config.py").read_text()
    if "harden(c)" not in config:  # the course config already calls it; a copy made before that still gets it
        config += "\nfrom gradcourse.scoring.config import harden\nharden(c)\n"
    (course / "nbgrader_config.py").write_text(config + TEST_LIMITS)
    release = nbgrader(course, "generate_assignment", ASSIGNMENT, "--force")
    assert release.returncode == 0, release.stdout[-3000:]
    for student in HONEST:
        build_submission(course, student)
    for attack in ATTACKS:
        build_submission(course, f"x-{attack.name}", attack)
    build_submission(course, CONTROL, Attack("control", "wrong", ZERO))
    for control in CONTROLS:
        build_submission(course, control)
    everyone = [*HONEST, CONTROL, *CONTROLS, *(f"x-{a.name}" for a in ATTACKS)]
    roster = course / "students.csv"
    roster.write_text("id\n" + "".join(f"{s}\n" for s in everyone))
    assert nbgrader(course, "db", "student", "import", str(roster)).returncode == 0
    first = nbgrader(course, "autograde", ASSIGNMENT, "--student=h-*")
    assert first.returncode == 0, first.stdout[-3000:]
    before = rows_of(course / "gradebook.db", HONEST)
    started = time.perf_counter()
    batch = course_cli(course, "autograde", ASSIGNMENT, "--jobs", "2", "--student", "x-*")
    seconds = time.perf_counter() - started
    feedback = course_cli(course, "feedback")
    summary = course_cli(course, "summary")
    return {"course": course, "before": before, "seconds": seconds, "batch": batch, "feedback": feedback,
            "summary": summary}


def course_cli(course: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    return subprocess.run([sys.executable, "-m", "gradcourse.instructor", "--course", str(course), *args], env=env,
                          capture_output=True, text=True, timeout=1800)


def test_honest_students_keep_full_marks(red_team):
    total, _ = check_points(red_team["course"] / "gradebook.db")
    scores = auto_scores(red_team["course"] / "gradebook.db")
    assert total > 0 and all(scores[s] == total for s in HONEST), scores


@pytest.mark.parametrize("attack", ATTACKS, ids=[a.name for a in ATTACKS])
def test_each_attack_gets_what_it_deserves(red_team, attack):
    db = red_team["course"] / "gradebook.db"
    total, per_stub = check_points(db)
    scores = auto_scores(db)
    score = scores.get(f"x-{attack.name}", 0.0)
    if attack.expect in (ZERO, NOT_GRADED):
        assert scores[CONTROL] < total / 4
        assert score <= scores[CONTROL], f"{attack.name} got {score - scores[CONTROL]} undeserved points"
    elif attack.expect == FULL:
        assert score == total, f"{attack.name} lost points: {score}/{total}"
    else:
        stub = attack.expect.split(":")[1]
        assert score == total - per_stub[stub], f"{attack.name}: {score}, expected {total - per_stub[stub]}"


def test_what_could_not_be_graded_is_listed_and_the_exit_status_says_so(red_team):
    out = red_team["batch"].stdout
    listed = set(re.findall(r"^  (x-\S+) lab00-en: ", out.split("NOT GRADED", 1)[-1], re.M)) if "NOT GRADED" in out \
        else set()
    expected = {f"x-{a.name}" for a in ATTACKS if a.expect == NOT_GRADED}
    assert listed == expected, out[-3000:]
    assert red_team["batch"].returncode == 1, out[-3000:]
    graded = {student for student, _ in GRADED_LINE.findall(out)}
    assert not graded & expected, "a submission that was not graded was counted as autograded"


def test_honest_controls_in_the_attackers_batch_keep_their_solo_score(red_team):
    total, _ = check_points(red_team["course"] / "gradebook.db")
    scores = auto_scores(red_team["course"] / "gradebook.db")
    assert {c: scores.get(c) for c in CONTROLS} == {c: total for c in CONTROLS}, red_team["batch"].stdout[-3000:]


def test_every_submission_ends_within_its_budget(red_team):
    times = {student: float(t) for student, t in GRADED_LINE.findall(red_team["batch"].stdout)}
    assert times and max(times.values()) < SUBMISSION_BOUND, sorted(times.items(), key=lambda kv: -kv[1])[:5]


def test_autograded_notebooks_stay_small(red_team):
    for nb in (red_team["course"] / "autograded").rglob("*.ipynb"):
        assert nb.stat().st_size < NOTEBOOK_BYTES, f"{nb}: {nb.stat().st_size} bytes"


def test_summary_survives_any_metadata(red_team):
    assert red_team["summary"].returncode == 0, red_team["summary"].stderr[-3000:]


def test_other_students_gradebook_rows_are_unchanged(red_team):
    assert rows_of(red_team["course"] / "gradebook.db", HONEST) == red_team["before"]


def test_the_batch_finishes_within_its_bound(red_team):
    assert red_team["seconds"] < BATCH_SECONDS, f"{red_team['seconds']:.0f} s"


def test_feedback_is_small_and_has_no_hidden_tests(red_team):
    pages = list((red_team["course"] / "feedback").rglob("*.html"))
    graded = [a for a in ATTACKS if a.expect != NOT_GRADED]
    assert red_team["feedback"].returncode == 0, red_team["feedback"].stdout[-3000:]
    assert len(pages) >= len(HONEST) + 1 + len(CONTROLS) + len(graded)
    for page in pages:
        html = page.read_text(errors="replace")
        assert page.stat().st_size < FEEDBACK_BYTES, f"{page}: {page.stat().st_size} bytes"
        assert "BEGIN HIDDEN TESTS" not in html and "hidden=True" not in html, page
        assert "BEGIN SOLUTION" not in html, page
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


def test_a_broken_submission_does_not_stop_the_batch(red_team):
    scores = auto_scores(red_team["course"] / "gradebook.db")
    graded = {f"x-{a.name}" for a in ATTACKS if a.expect != NOT_GRADED}
    assert graded <= set(scores), graded - set(scores)
