"""The generated notebooks are up to date, shared code is shared, stubs are stubs."""
import filecmp
import json
import re
import shutil
from pathlib import Path

import nbformat
import pytest

from gradcourse.book.mirror import code_without_prose
from gradcourse.authoring import labgen
from gradcourse.grading.checks import CHECKS

from .conftest import REPO

OUTPUTS = ["grader/source", "grader/release", "labs/en", "labs/es", "solutions/labs/en", "solutions/labs/es",
           "book/en/labs", "book/es/labs"]
LABS = labgen.labs()


def _ipynbs(folder: Path):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*.ipynb"))


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory):
    out = tmp_path_factory.mktemp("regen")
    labgen.generate(REPO, out)
    return out


@pytest.mark.parametrize("folder", OUTPUTS)
def test_generated_notebooks_are_not_stale(regenerated, folder):
    fresh, committed = regenerated / folder, REPO / folder
    assert _ipynbs(fresh) == _ipynbs(committed), "run: python -m gradcourse.instructor generate"
    for rel in _ipynbs(fresh):
        assert filecmp.cmp(fresh / rel, committed / rel, shallow=False), \
            f"{folder}/{rel} is stale: run `python -m gradcourse.instructor generate`"


def test_generation_is_deterministic(regenerated, tmp_path):
    labgen.generate(REPO, tmp_path, only=LABS[:1])
    for rel in _ipynbs(tmp_path / "grader/release"):
        assert (tmp_path / "grader/release" / rel).read_bytes() == (regenerated / "grader/release" / rel).read_bytes()


def _code(nb):
    """Each code cell without its docstrings and comments (they are in the notebook's language), and its role."""
    return [(code_without_prose(c.source), c.metadata.get("nbgrader", {}).get("grade_id"))
            for c in nb.cells if c.cell_type == "code"]


@pytest.mark.parametrize("lab", LABS)
@pytest.mark.parametrize("folder", ["grader/source/{lab}-{lang}", "grader/release/{lab}-{lang}",
                                    "labs/{lang}", "solutions/labs/{lang}"])
def test_code_cells_identical_in_english_and_spanish(lab, folder):
    en, es = (nbformat.read(REPO / folder.format(lab=lab, lang=lang) / f"{lab}.ipynb", 4) for lang in ("en", "es"))
    assert _code(en) == _code(es)
    md_en = [c.metadata.get("nbgrader", {}).get("grade_id") for c in en.cells if c.cell_type == "markdown"]
    md_es = [c.metadata.get("nbgrader", {}).get("grade_id") for c in es.cells if c.cell_type == "markdown"]
    assert [g for g in md_en if g] == [g for g in md_es if g], "written-answer cells differ"


@pytest.mark.parametrize("lab", LABS)
def test_markdown_is_in_its_language(lab):
    en = nbformat.read(REPO / "labs/en" / f"{lab}.ipynb", 4)
    es = nbformat.read(REPO / "labs/es" / f"{lab}.ipynb", 4)
    text_en = " ".join(c.source for c in en.cells if c.cell_type == "markdown")
    text_es = " ".join(c.source for c in es.cells if c.cell_type == "markdown")
    assert text_en != text_es
    for word in (" the ", " and ", " with "):
        assert word not in text_es, f"English word {word!r} in the Spanish {lab}"
    for word in (" el ", " los ", " con "):
        assert word not in text_en, f"Spanish word {word!r} in the English {lab}"


@pytest.mark.parametrize("lab", LABS)
def test_released_stubs_raise_and_keep_their_docstring(lab):
    nb = nbformat.read(REPO / "labs/en" / f"{lab}.ipynb", 4)
    stubs = [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("solution")]
    assert stubs
    for c in stubs:
        assert "raise NotImplementedError()" in c.source
        assert "SOLUTION" not in c.source
        assert re.search(r'def \w+\(.*\):\n    """', c.source), c.source
    for c in nb.cells:
        assert "HIDDEN TESTS" not in c.source
        assert "hidden=True" not in c.source


@pytest.mark.parametrize("lab", LABS)
def test_source_grade_cells_have_public_and_hidden_calls(lab):
    nb = nbformat.read(REPO / "grader/source" / f"{lab}-en" / f"{lab}.ipynb", 4)
    graded = [c for c in nb.cells if c.cell_type == "code" and c.metadata.get("nbgrader", {}).get("grade")]
    assert graded
    for c in graded:
        name = re.search(r'grade\("([^"]+)"', c.source).group(1)
        assert c.metadata["nbgrader"]["points"] == CHECKS[name].points
        assert c.source.startswith('"""')                     # docstring says what it checks
        assert "### BEGIN HIDDEN TESTS" in c.source and "hidden=True" in c.source
        last = [ln for ln in c.source.splitlines() if ln.strip()][-1]
        assert last == "### END HIDDEN TESTS"                 # no bare final expression is evaluated


def test_solutions_have_no_grading_markup():
    for path in (REPO / "solutions/labs").rglob("*.ipynb"):
        text = path.read_text()
        assert "BEGIN SOLUTION" not in text and "HIDDEN TESTS" not in text and '"nbgrader"' not in text
        nb = json.loads(text)
        assert all(c.get("outputs", []) == [] for c in nb["cells"]), "notebooks are committed without outputs"


def test_make_book_tells_a_stale_lab(tmp_path):
    """`make book` regenerates exactly the labs whose inputs changed (generate --if-stale)."""
    for part in ("grader/labsrc", "book/en/labs", "book/es/labs"):
        shutil.copytree(REPO / part, tmp_path / part)
    shutil.copy(REPO / "grader/nbgrader_config.py", tmp_path / "grader/nbgrader_config.py")
    assert labgen.stale(tmp_path) == []
    source = tmp_path / "grader/labsrc/lab01.md"
    source.write_text(source.read_text(encoding="utf-8") + "\n", encoding="utf-8")
    (tmp_path / "book/es/labs/lab03.ipynb").unlink()
    assert labgen.stale(tmp_path) == ["lab01", "lab03"]
