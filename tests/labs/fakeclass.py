"""Build a fake class from the released notebooks and the implementations kept as data."""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import nbformat

from gradcourse.grading.checks import CHECKS, checks_for
from gradcourse.grading.labgen import assignment

from .fixtures.implementations import IMPLEMENTATIONS

N_STUDENTS = 10
N_HONEST_FIRST = 3
PER_LAB = 6          # 3 honest + up to 3 wrong implementations per stub; each student hands in 3 of 5 labs


def student_ids():
    return [f"s{i + 1:02d}" for i in range(N_STUDENTS)]


def choose(stub: str, i: int):
    """Student i's implementation of `stub`: (label, source, targeted checks)."""
    impl = IMPLEMENTATIONS[stub]
    honest = list(impl["honest"].items())
    wrong = list(impl["wrong"].items())
    if N_HONEST_FIRST <= i < N_HONEST_FIRST + len(wrong):
        name, (src, targets) = wrong[i - N_HONEST_FIRST]
        return f"wrong:{name}", src, targets
    name, src = honest[i % len(honest)]
    return f"honest:{name}", src, ()


def stubs_in(nb):
    return [c.metadata["nbgrader"]["grade_id"] for c in nb.cells
            if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]


def auto_points(nb):
    return sum(c.metadata["nbgrader"]["points"] for c in nb.cells
               if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade"))


def fill(nb, sources: dict):
    nb = nbformat.from_dict(json.loads(json.dumps(nb)))
    for c in nb.cells:
        gid = c.metadata.get("nbgrader", {}).get("grade_id")
        if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution") and gid in sources:
            c.source = sources[gid]
    return nb


def submit(course: Path, student: str, name: str, nb, filename=None):
    lab = name.split("-")[0]
    d = course / "submitted" / student / name
    d.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, d / (filename or f"{lab}.ipynb"))
    return d


def build(course: Path, labs: list[str]):
    """Write every student's submissions; return ({(student, lab): expected score}, {(student, lab): choices})."""
    expected, chosen = {}, {}
    ids = student_ids()
    for li, lab in enumerate(labs):
        for student in ids:
            expected[student, lab] = 0.0          # not handed in: 0 in the export
        for i in range(PER_LAB):                  # i is the role: 0-2 honest, 3-5 wrong implementations
            student = ids[(2 * li + i) % N_STUDENTS]
            lang = ("en", "es")[(i + li) % 2]
            name = assignment(lab, lang)
            released = nbformat.read(course / "release" / name / f"{lab}.ipynb", as_version=4)
            sources, lost, picks = {}, 0.0, {}
            for stub in stubs_in(released):
                label, src, targets = choose(stub, i)
                sources[stub] = src
                picks[stub] = label
                lost += sum(CHECKS[t].points for t in targets)
                assert all(CHECKS[t].stub == stub for t in targets)
            submit(course, student, name, fill(released, sources))
            expected[student, lab] = auto_points(released) - lost
            chosen[student, lab] = picks
    return expected, chosen


def honest_sources(nb):
    return {stub: next(iter(IMPLEMENTATIONS[stub]["honest"].values())) for stub in stubs_in(nb)}


def build_bad(course: Path, lab="lab00"):
    """Broken submissions; return ({student: expected score of `lab`}, {student: fragment of the summary line})."""
    name = assignment(lab, "en")
    released = nbformat.read(course / "release" / name / f"{lab}.ipynb", as_version=4)
    good = fill(released, honest_sources(released))
    full = auto_points(released)
    expected, lines = {}, {}

    d = submit(course, "x-json", name, good)
    text = (d / f"{lab}.ipynb").read_text()
    (d / f"{lab}.ipynb").write_text(text[: len(text) // 2])
    expected["x-json"], lines["x-json"] = 0.0, "not a readable notebook"

    submit(course, "x-name", name, good, filename=f"{lab.capitalize()} (1).ipynb")
    expected["x-name"], lines["x-name"] = 0.0, f"{lab}.ipynb is missing"

    nb = fill(released, honest_sources(released))
    drop = {"check-softmax-batch", "ce_loss"}
    nb.cells = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade_id") not in drop]
    submit(course, "x-deleted", name, nb)
    expected["x-deleted"] = full - sum(c.points for c in checks_for("ce_loss"))
    lines["x-deleted"] = "deleted answer cells ce_loss"

    nb = fill(released, honest_sources(released))
    for i, c in enumerate(nb.cells):
        if c.metadata.get("nbgrader", {}).get("grade_id") == "check-softmax-values":
            nb.cells[i] = nbformat.v4.new_markdown_cell(c.source, metadata=c.metadata)
    submit(course, "x-retyped", name, nb)
    expected["x-retyped"], lines["x-retyped"] = full, "re-typed cells"
    return expected, lines


def copy_course(src: Path, dest: Path):
    dest.mkdir(parents=True, exist_ok=True)
    shutil.copy(src / "nbgrader_config.py", dest / "nbgrader_config.py")
    shutil.copytree(src / "source", dest / "source")
    return dest
