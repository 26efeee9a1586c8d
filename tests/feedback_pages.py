"""Feedback pages of lab 00, one per language, made by the real nbgrader commands with the course's config, once per
test session and shared by the tests that read them (tests/test_feedback_*.py).

The submission is the released notebook with the reference solutions written in, a long printed line, and a written
answer with math: two good formulas (one inline, one displayed), one whose braces do not close (shown as its TeX)
and two that try what TeX in a browser could (a javascript: link, raw HTML); the instructor scores and comments the
written answer before the feedback is made."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import nbformat
from nbgrader.api import Gradebook

ROOT = Path(__file__).resolve().parents[1]
STUDENT = "ana"
BROKEN_TEX = r"\frac{a}{b"
WRITTEN = {
    "en": "**My derivation:** $\\frac{\\partial p_i}{\\partial z_j} = p_i(\\delta_{ij} - p_j)$, so\n\n"
          "$$J = \\operatorname{diag}(p) - p p^\\top$$\n\n"
          f"Not typeset: ${BROKEN_TEX}$. Tried: $\\href{{javascript:alert(1)}}{{x}}$ and "
          "$<img src=x onerror=alert(1)>$.",
    "es": "**Mi derivación:** $\\frac{\\partial p_i}{\\partial z_j} = p_i(\\delta_{ij} - p_j)$, así que\n\n"
          "$$J = \\operatorname{diag}(p) - p p^\\top$$\n\n"
          f"Sin componer: ${BROKEN_TEX}$. Intentos: $\\href{{javascript:alert(1)}}{{x}}$ y "
          "$<img src=x onerror=alert(1)>$.",
}


@dataclass
class Feedback:
    lang: str
    course: Path
    path: Path              # the page
    page: str               # its text
    graded: nbformat.NotebookNode

    @property
    def assignment(self) -> str:
        return f"lab00-{self.lang}"


_BUILT: dict[str, Feedback] = {}


def jupyter_env(course: Path) -> dict[str, str]:
    """nbgrader from the venv, with Jupyter's user folders beside the course (no user-wide config read)."""
    folders = {f"JUPYTER_{kind}_DIR": str(course.parent / "jupyter" / kind.lower())
               for kind in ("RUNTIME", "DATA", "CONFIG")}
    return {**os.environ, **folders, "IPYTHONDIR": str(course.parent / "ipython"),
            "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}


def nbgrader(course: Path, *args: str) -> None:
    done = subprocess.run(["nbgrader", *args], cwd=course, env=jupyter_env(course), capture_output=True, text=True,
                          timeout=600, check=False)
    assert done.returncode == 0, done.stderr[-3000:]


def build(lang: str, tmp_path_factory) -> Feedback:
    """The feedback page of the solved lab 00 in ``lang``, as an instructor's commands make it (made once)."""
    if lang in _BUILT:
        return _BUILT[lang]
    assignment = f"lab00-{lang}"
    course = tmp_path_factory.mktemp(f"feedback-{lang}") / "course"
    shutil.copytree(ROOT / "grader" / "source" / assignment, course / "source" / assignment)
    shutil.copy(ROOT / "grader" / "nbgrader_config.py", course)
    nbgrader(course, "generate_assignment", assignment, "--force")
    nb = nbformat.read(course / "release" / assignment / "lab00.ipynb", as_version=4)
    source = nbformat.read(course / "source" / assignment / "lab00.ipynb", as_version=4)
    solutions = {c.metadata.nbgrader.grade_id: c.source for c in source.cells
                 if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")}
    for cell in nb.cells:
        grade_id = cell.metadata.get("nbgrader", {}).get("grade_id")
        if grade_id in solutions:
            cell.source = solutions[grade_id]
        if grade_id == "derivation-softmax":
            cell.source = WRITTEN[lang]
    # A long printed line: it must wrap on the page, not run off it.
    nb.cells.append(nbformat.v4.new_code_cell("print('x' * 3000)"))
    folder = course / "submitted" / STUDENT / assignment
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / "lab00.ipynb")
    nbgrader(course, "autograde", assignment)
    with Gradebook(f"sqlite:///{course / 'gradebook.db'}") as gradebook:  # the instructor reads a written answer
        gradebook.find_grade("derivation-softmax", "lab00", assignment, STUDENT).manual_score = 2
        gradebook.find_comment("derivation-softmax", "lab00", assignment, STUDENT).manual_comment = "OK"
        gradebook.db.commit()
    nbgrader(course, "generate_feedback", assignment)
    path = course / "feedback" / STUDENT / assignment / "lab00.html"
    graded = nbformat.read(course / "autograded" / STUDENT / assignment / "lab00.ipynb", as_version=4)
    _BUILT[lang] = Feedback(lang, course, path, path.read_text(encoding="utf8"), graded)
    return _BUILT[lang]
