"""Restoring the course's cells from one read of the gradebook (gradcourse/scoring/overwrite.py) does to every
tampered notebook exactly what nbgrader's OverwriteCells does: the same notebook out, the same warnings."""

import copy
import json
import logging
import shutil
from pathlib import Path

import nbformat
import pytest
from nbgrader.preprocessors import OverwriteCells

from gradcourse.scoring import course as nbgrader_course
from gradcourse.scoring.overwrite import OverwriteCellsAtOnce

ROOT = Path(__file__).resolve().parents[1]
ASSIGNMENT, NOTEBOOK = "lab00-en", "lab00"


@pytest.fixture(scope="module")
def gradebook(tmp_path_factory):
    course = tmp_path_factory.mktemp("course")
    shutil.copytree(ROOT / "grader" / "source" / ASSIGNMENT, course / "source" / ASSIGNMENT)
    shutil.copy(ROOT / "grader" / nbgrader_course.CONFIG_FILE, course)
    done = nbgrader_course.run(course, "generate_assignment", ASSIGNMENT, "--force", timeout=600)
    assert done.returncode == 0, done.stdout[-3000:]
    release = nbformat.read(course / "release" / ASSIGNMENT / f"{NOTEBOOK}.ipynb", as_version=4)
    return f"sqlite:///{course / 'gradebook.db'}", release


def _ids(nb, predicate):
    return [i for i, c in enumerate(nb.cells) if predicate(c.metadata.get("nbgrader", {}))]


def tampered(release):
    """(what was done, the notebook): the ways a submission can differ from what the course released."""
    locked = _ids(release, lambda m: m.get("locked") and not m.get("grade"))
    tests = _ids(release, lambda m: m.get("grade") and not m.get("solution"))
    answers = _ids(release, lambda m: m.get("solution"))
    written = _ids(release, lambda m: m.get("solution") and m.get("grade"))   # graded by hand
    out = [("as released", copy.deepcopy(release))]

    def variant(name, change):
        nb = copy.deepcopy(release)
        change(nb)
        out.append((name, nb))

    variant("locked cell rewritten", lambda nb: setattr(nb.cells[locked[0]], "source", "print('mine')"))
    variant("test cell rewritten", lambda nb: setattr(nb.cells[tests[0]], "source", "pass"))
    variant("points raised", lambda nb: nb.cells[tests[1]].metadata.nbgrader.update(points=100))
    variant("test cell unlocked", lambda nb: nb.cells[tests[3]].metadata.nbgrader.update(locked=False))
    variant("written answer made a code cell", lambda nb: setattr(nb.cells[written[0]], "cell_type", "code"))
    variant("test cell made markdown", lambda nb: nb.cells.__setitem__(
        tests[2], nbformat.v4.new_markdown_cell("x", metadata=nb.cells[tests[2]].metadata)))
    variant("unknown grade id", lambda nb: nb.cells[answers[0]].metadata.nbgrader.update(grade_id="nope"))
    variant("test cells deleted", lambda nb: [nb.cells.pop(i) for i in sorted(tests[:3], reverse=True)])
    variant("grade id of another cell", lambda nb: nb.cells[answers[1]].metadata.nbgrader.update(
        grade_id=release.cells[tests[0]].metadata.nbgrader.grade_id))
    return out


def overwritten(step_class, nb, db_url, caplog):
    step = step_class(add_missing_cells=True)
    caplog.clear()
    with caplog.at_level(logging.WARNING):
        try:   # (a notebook nbgrader cannot take fails the same way: InertNotebook runs before, in the course)
            result, _ = step.preprocess(copy.deepcopy(nb), {"nbgrader": {
                "notebook": NOTEBOOK, "assignment": ASSIGNMENT, "db_url": db_url}})
            given = {cell.get("id") for cell in nb.cells}
            for i, cell in enumerate(result.cells):   # a cell put back gets a random id
                cell["id"] = cell.get("id") if cell.get("id") in given else f"put-back-{i}"
            out = nbformat.writes(result)
        except Exception as exc:  # noqa: BLE001
            out = f"{type(exc).__name__}: {exc}"
    return out, [r.getMessage() for r in caplog.records]


def test_every_tampered_notebook_comes_out_as_nbgraders_overwrite_makes_it(gradebook, caplog):
    db_url, release = gradebook
    changed = 0
    for what, nb in tampered(release):
        stock = overwritten(OverwriteCells, nb, db_url, caplog)
        once = overwritten(OverwriteCellsAtOnce, nb, db_url, caplog)
        assert once == stock, what
        changed += stock[0] != json.dumps(nb, indent=1, sort_keys=True, ensure_ascii=False) + "\n"
    assert changed >= 8   # the variants did tamper: nbgrader put something back in each


def test_the_gradebook_is_read_once_per_notebook_not_per_cell(gradebook, monkeypatch):
    from nbgrader.api import Gradebook
    db_url, release = gradebook
    queries = []

    def counting(name, original):
        def counted(self, *args):
            queries.append(name)
            return original(self, *args)
        return counted

    for name in ("find_source_cell", "find_graded_cell", "find_notebook"):
        monkeypatch.setattr(Gradebook, name, counting(name, getattr(Gradebook, name)))
    OverwriteCellsAtOnce().preprocess(copy.deepcopy(release), {"nbgrader": {
        "notebook": NOTEBOOK, "assignment": ASSIGNMENT, "db_url": db_url}})
    assert queries == ["find_notebook"]
