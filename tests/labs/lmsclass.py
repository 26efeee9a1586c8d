"""A small class that hands lab 00 in through Moodle, Canvas and nbgrader's exchange: the folders each of them gives
the instructor (as the LMS names them), the rosters that turn their numbers into student ids, and what each
submission must score (the named checks, run in process as in fakeclass.py).

Moodle: s01-s04, one folder each; s04's notebook is broken by a stray edit (its metadata, at the end, still says
Spanish) and is handed in again, fixed, later in the week. Canvas: s05 and s06 (late, resubmitted, so Canvas calls
the file lab00-1.ipynb), and s07's notebook, cut short, whose name and content say no language. Exchange: s08, in
nbgrader's layout.
"""
from __future__ import annotations

import re
from pathlib import Path

import nbformat

from gradcourse.authoring.labgen import assignment
from gradcourse.grading.checks import CHECKS

from . import fakeclass

LAB = "lab00"
# student: (name as the LMS shows it, LMS number, language, role in fakeclass.choose: 0-2 honest, 3-4 wrong)
MOODLE = {"s01": ("Ana Pérez", 5501, "en", 0), "s02": ("Bruno Díaz", 5502, "es", 1),
          "s03": ("Carla Ruiz", 5503, "es", 3), "s04": ("Diego Mora", 5504, "es", 2)}
CANVAS = {"s05": ("López, Eva", 1005, "en", 4), "s06": ("Sanz, Fede", 1006, "es", 0),
          "s07": ("Vidal, Gema", 1007, "en", 1)}
LATE = {"s06"}
EXCHANGE = {"s08": ("en", 1)}
EMAIL = "{student}@uni.example"
# The one written answer of the week, to grade by hand in the formgrader: s02's derivation, with math.
WRITTEN = {"s02": ("derivation-softmax",
                   "**Derivación.** Si $i \\ne j$, $\\frac{\\partial p_i}{\\partial z_j} = -p_i p_j$; si $i = j$, "
                   "$\\frac{\\partial p_i}{\\partial z_i} = p_i (1 - p_i)$. Juntas:\n\n"
                   "$$J = \\operatorname{diag}(p) - p p^\\top$$")}


def notebook(course: Path, lang: str, role: int, student: str = ""):
    released = nbformat.read(course / "release" / assignment(LAB, lang) / f"{LAB}.ipynb", as_version=4)
    nb = fakeclass.fill(released, {stub: fakeclass.choose(stub, role)[1] for stub in fakeclass.stubs_in(released)})
    if student in WRITTEN:
        grade_id, text = WRITTEN[student]
        for cell in nb.cells:
            if cell.metadata.get("nbgrader", {}).get("grade_id") == grade_id:
                cell.source = text
    return nb


def _text(nb) -> str:
    return nbformat.writes(nb)


def broken(nb) -> str:
    """The notebook with its JSON broken in its first cell, as a stray hand edit leaves it; the metadata, which
    nbformat writes last, is intact."""
    return re.sub(r'"cells": \[', '"cells": [ ,', _text(nb), count=1)


def canvas_name(name: str, lms_id: int, file_id: int, filename: str, late: bool) -> str:
    """As Canvas names a file in its submissions zip: sortable name lower-cased with every non-word character
    dropped, LATE if late, the user id, the file's id, the file's name."""
    slug = re.sub(r"[^\w]", "", name.lower())
    return f"{slug}{'_LATE' if late else ''}_{lms_id}_{file_id}_{filename}"


def build(course: Path, root: Path) -> dict:
    """Write the downloads and rosters under ``root``; return what each student must score in lab 00
    ({student: points}, None for a submission that cannot be graded) and the notebooks handed in."""
    expected, handed = {}, {}
    moodle, canvas, exchange = root / "moodle-lab00", root / "canvas-lab00", root / "exchange"
    for student, (name, number, lang, role) in MOODLE.items():
        nb = notebook(course, lang, role, student)
        folder = moodle / f"{name}_{number}_assignsubmission_file_"
        folder.mkdir(parents=True)
        if student == "s04":
            (folder / f"{LAB}.ipynb").write_text(broken(nb), encoding="utf-8")
            expected[student] = None
        else:
            nbformat.write(nb, folder / f"{LAB}.ipynb")
            expected[student] = _points(nb, student)
        handed[student] = nb
    (moodle / "Bruno Díaz_5502_assignsubmission_onlinetext_").mkdir()
    (moodle / "Bruno Díaz_5502_assignsubmission_onlinetext_" / "onlinetext.html").write_text("<p>Done!</p>")
    canvas.mkdir(parents=True)
    for i, (student, (name, number, lang, role)) in enumerate(CANVAS.items()):
        nb = notebook(course, lang, role)
        late = student in LATE
        filename = f"{LAB}-1.ipynb" if late else f"{LAB}.ipynb"
        path = canvas / canvas_name(name, number, 88001 + i, filename, late)
        if student == "s07":
            path.write_text(_text(nb)[:4000], encoding="utf-8")        # cut short: no metadata left
            expected[student] = "refused"
        else:
            nbformat.write(nb, path)
            expected[student] = _points(nb, student)
        handed[student] = nb
    for student, (lang, role) in EXCHANGE.items():
        nb = notebook(course, lang, role)
        folder = exchange / student / assignment(LAB, lang)
        folder.mkdir(parents=True)
        nbformat.write(nb, folder / f"{LAB}.ipynb")
        expected[student] = _points(nb, student)
        handed[student] = nb
    rosters(root)
    return {"expected": expected, "handed": handed}


def resubmission(course: Path, root: Path) -> tuple[Path, float]:
    """s04's notebook, fixed, in a second Moodle download; and what it must score."""
    name, number, lang, role = MOODLE["s04"]
    nb = notebook(course, lang, role)
    folder = root / "moodle-lab00-late" / f"{name}_{number}_assignsubmission_file_"
    folder.mkdir(parents=True)
    nbformat.write(nb, folder / f"{LAB}.ipynb")
    return folder.parent, _points(nb, "s04")


def rosters(root: Path):
    """roster-moodle.csv and roster-canvas.csv, as an instructor writes them from the LMS's participant list."""
    lines = ["student_id,lms_id,email"]
    lines += [f"{s},{number},{EMAIL.format(student=s)}" for s, (_, number, _, _) in MOODLE.items()]
    (root / "roster-moodle.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    lines = ["student_id,lms_id,name,sis_user_id,section"]
    lines += [f'{s},{number},"{name}",U{number},Group A' for s, (name, number, _, _) in CANVAS.items()]
    (root / "roster-canvas.csv").write_text("\n".join(lines) + "\n", encoding="utf-8")


def _points(nb, student: str) -> float:
    verdicts = fakeclass.grade_in_process(nb, student)
    return sum(CHECKS[n].points for n, ok in verdicts.items() if ok)
