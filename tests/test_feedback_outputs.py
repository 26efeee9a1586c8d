"""What a learner sees in the feedback notebook: the sandboxed run keeps prints, figures and errors as notebook
outputs, self-check cells say where the verdict is, and each graded cell carries its checks' verdict."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from gradcourse.scoring.autograde import SandboxedGrading, is_test_cell

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module", params=["en", "es"])
def graded(request, tmp_path_factory):
    """The solved lab 00 (nbgrader's source notebook), graded as a student would be."""
    lang = request.param
    nb = nbformat.read(ROOT / "grader" / "source" / f"lab00-{lang}" / "lab00.ipynb", as_version=4)
    secret = tmp_path_factory.mktemp("course") / ".gradcourse-secret"
    grading = SandboxedGrading(secret_file=str(secret))
    nb, _ = grading.preprocess(nb, {"nbgrader": {"student": "ana", "assignment": f"lab00-{lang}"}})
    return lang, nb


def test_every_graded_cell_passes_with_its_verdict(graded):
    _, nb = graded
    tests = [c for c in nb.cells if is_test_cell(c)]
    assert tests and all(c.outputs and c.outputs[0].output_type == "stream" and "✓" in c.outputs[0].text
                         for c in tests), [c.outputs for c in tests if not c.outputs or "✓" not in str(c.outputs)]


def test_figures_and_prints_become_outputs(graded):
    _, nb = graded
    kinds = [o.output_type for c in nb.cells if c.cell_type == "code" for o in c.outputs]
    images = [o for c in nb.cells for o in c.get("outputs", []) if "image/png" in o.get("data", {})]
    assert images, "the lab's plot should be in the feedback"
    assert "stream" in kinds and "error" not in kinds, kinds


def test_self_check_cells_point_to_the_verdict_in_the_learners_language(graded):
    lang, nb = graded
    notes = [c.outputs[0].text for c in nb.cells
             if c.cell_type == "code" and c.source.lstrip().startswith("self_check(")]
    assert notes and all(("graded cell below" if lang == "en" else "celda calificada de abajo") in n for n in notes)
