"""A fault of the grader's own machinery is never a learner's grade: with a reference that is subtly wrong, the
submission is not graded, the command says so in its exit status, and the grade it had stays exactly as it was."""
import sqlite3
import subprocess
import sys

import nbformat

from . import fakeclass
from .conftest import REPO

# Appended to the course's config, which nbgrader executes in its own (the grader's) process: the reference
# softmax Jacobian drifts by 1e-6, as a bug in the course's code would make it.
BROKEN_REFERENCE = """
import gradcourse.grading.reference as _reference
_right = _reference.softmax_jacobian
_reference.softmax_jacobian = lambda z: _right(z) + 1e-6
"""


def cli(course, *args):
    return subprocess.run([sys.executable, "-m", "gradcourse.instructor", "--course", str(course), *args],
                          cwd=REPO, capture_output=True, text=True)


def grade_rows(course):
    with sqlite3.connect(course / "gradebook.db") as con:
        return sorted(con.execute("select g.cell_id, g.auto_score, g.manual_score from grade g join submitted_notebook n "
                                  "on g.notebook_id = n.id join submitted_assignment sa on n.assignment_id = sa.id "
                                  "where sa.student_id = 'ana'").fetchall())


def test_a_wrong_reference_means_not_graded_and_the_grade_unchanged(tmp_path):
    course = fakeclass.copy_course(REPO / "grader", tmp_path / "grader")
    assert cli(course, "release", "--lab", "lab00").returncode == 0
    release = nbformat.read(course / "release" / "lab00-en" / "lab00.ipynb", 4)
    fakeclass.submit(course, "ana", "lab00-en", fakeclass.fill(release, fakeclass.honest_sources(release)))
    first = cli(course, "autograde", "lab00-en")
    assert first.returncode == 0, first.stdout + first.stderr
    before = grade_rows(course)
    assert before and all(score is not None for _, score, _ in before)

    config = course / "nbgrader_config.py"
    config.write_text(config.read_text() + BROKEN_REFERENCE)
    second = cli(course, "autograde", "lab00-en")
    assert second.returncode == 1, second.stdout + second.stderr
    assert "NOT GRADED" in second.stdout and "ana lab00-en" in second.stdout, second.stdout
    assert "could not run" in second.stdout  # the reason names the grader's fault, not the learner's code
    assert grade_rows(course) == before
    summary = cli(course, "summary")
    assert "NOT GRADED" in summary.stdout and "ana / lab00-en" in summary.stdout, summary.stdout
