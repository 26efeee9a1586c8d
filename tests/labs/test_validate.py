"""nbgrader validate passes on every source notebook and, inverted, on every released stub; each solved notebook
runs clean. The course's own `python -m gradcourse.validate`, the one learners use: every failure whole, in the
notebook's language, with nothing else; the same verdicts as nbgrader; exit 0, 1 or 2; no nbgrader needed."""
import os
import subprocess
import sys
import time

import nbformat
import pytest
from nbclient import NotebookClient
from nbformat.v4 import new_code_cell, new_notebook

from gradcourse import validate as course_validate
from gradcourse.scoring import course as nbgrader_course
from gradcourse.authoring import labgen

from .conftest import REPO

LABS = labgen.labs()


def nbgrader_validate(paths, *flags):
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "validate", *flags, *map(str, paths)],
                          cwd=REPO, capture_output=True, text=True, env=nbgrader_course.env())
    return proc.returncode, proc.stdout + proc.stderr


@pytest.mark.parametrize("lang", ["en", "es"])
def test_nbgrader_validate_source(lang):
    paths = [REPO / "grader/source" / f"{lab}-{lang}" / f"{lab}.ipynb" for lab in LABS]
    rc, out = nbgrader_validate(paths)
    assert rc == 0 and out.count("Success! Your notebook passes all the tests.") == len(paths), out


@pytest.mark.parametrize("lang", ["en", "es"])
def test_nbgrader_validate_invert_release(lang):
    paths = [REPO / "grader/release" / f"{lab}-{lang}" / f"{lab}.ipynb" for lab in LABS]
    rc, out = nbgrader_validate(paths, "--invert")
    assert rc == 0 and out.count("Success! The notebook does not pass any tests.") == len(paths), out


@pytest.mark.parametrize("lab", LABS)
@pytest.mark.parametrize("lang", ["en", "es"])
def test_solved_notebook_runs_clean(lab, lang):
    # Its running time is a benchmark figure (issue: labs in <= 10 s), not a unit-test assertion.
    folder = REPO / "solutions/labs" / lang
    nb = nbformat.read(folder / f"{lab}.ipynb", 4)
    NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    errors = [o for c in nb.cells if c.cell_type == "code" for o in c.outputs
              if o.output_type == "error" or (o.output_type == "stream" and o.name == "stderr")]
    assert not errors, errors
    printed = "".join(o.get("text", "") for c in nb.cells if c.cell_type == "code" for o in c.outputs)
    assert "✗" not in printed
    if "✓" in printed:                      # self-checks answer in the notebook's language
        word = {"en": "values", "es": "los valores"}[lang] if lab == "lab00" else None
        if word:
            assert word in printed


# --- python -m gradcourse.validate ---------------------------------------------------------------------------------

HINT = {"en": "did you subtract max(z) before exp?", "es": "¿restaste max(z) antes de exp?"}
NOISE = ("Kernel", "TCP", "WARNING", "Traceback", "gradcourse/", "nbgrader", "Debugger", "No nbgrader_config")


def course(*args, env=None, cwd=None, block_nbgrader=False):
    """`python -m gradcourse.validate ARGS` as a learner runs it: no language forced on it. With block_nbgrader,
    importing nbgrader fails, as it would in the learner install."""
    env = {k: v for k, v in (env or os.environ).items() if k not in ("GRADCOURSE_LANG", "JPY_SESSION_NAME")}
    prelude = "import sys; sys.modules['nbgrader'] = None; " if block_nbgrader else "import sys; "
    cmd = [sys.executable, "-c", prelude + "from gradcourse.validate import main; sys.exit(main())", *map(str, args)]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd, timeout=300)
    return proc.returncode, proc.stdout, proc.stderr


def learners_lab00(lang, wrong_softmax=True, written=False):
    """A learner's lab 00: every function solved as in the worked solutions, except (wrong_softmax) a softmax that
    forgets max(z); the written answers empty, or (written) answered."""
    nb = nbformat.read(REPO / "labs" / lang / "lab00.ipynb", 4)
    solved = {c.id: c.source for c in nbformat.read(REPO / "solutions/labs" / lang / "lab00.ipynb", 4).cells}
    for cell in nb.cells:
        role = cell.metadata.get("nbgrader", {})
        if cell.cell_type == "code" and role.get("solution"):
            cell.source = solved[cell.id]
        if cell.cell_type == "markdown" and role.get("solution") and written:
            cell.source += "\n\n$J = \\operatorname{diag}(p) - p p^\\top$"
        if wrong_softmax and cell.source.startswith("def softmax("):
            cell.source = "def softmax(z):\n    e = np.exp(z)\n    return e / e.sum(axis=-1, keepdims=True)\n"
    return nb


@pytest.fixture(scope="module")
def wrong_es(tmp_path_factory):
    """Spanish lab 00 with a wrong softmax, saved where no folder name says its language."""
    path = tmp_path_factory.mktemp("Downloads") / "lab00.ipynb"
    nbformat.write(learners_lab00("es"), path)
    return path


def test_validate_shows_every_failure_whole_in_the_notebooks_language(wrong_es):
    rc, out, err = course(wrong_es, cwd=wrong_es.parent)
    assert rc == 1 and err == "", (rc, err)
    assert HINT["es"] in " ".join(out.split()), out
    failures = [ln for ln in out.splitlines() if ln.startswith("✗ ")]
    assert [ln.split(":")[0] for ln in failures if "respuesta escrita" not in ln] == [
        "✗ softmax.large_logits", "✗ softmax_jacobian.large_logits"], out
    written = [ln for ln in failures if ln.startswith("✗ respuesta escrita «")]
    assert len(written) == 4 and all(ln.endswith("aún sin responder (se califica a mano).") for ln in written)
    assert "«Tu deducción (A1)»" in written[0]
    assert "LA VALIDACIÓN FALLA · lab00.ipynb: fallan 2 de 18 comprobaciones calificadas" in out
    assert not [w for w in NOISE + ("VALIDATION FAILED", "You did not", "passes") if w in out], out
    assert all(len(ln) <= course_validate.WIDTH for ln in out.splitlines()), out


def test_validate_fails_what_nbgrader_fails_and_the_validate_button_gets_the_whole_hint(wrong_es):
    """The same failing cells as nbgrader's Validator (behind `nbgrader validate` and the Validate button); the
    text that button's dialog shows is the check's whole message, already wrapped. (In English: nbgrader does not
    tell the kernel which notebook it runs, so a lab in a folder with no language in its name speaks English.)"""
    from nbgrader.validator import Validator

    ours = course_validate.validate(wrong_es)
    nb = nbformat.read(wrong_es, 4)
    by_source = {c.source.strip(): c.metadata["nbgrader"]["grade_id"] for c in nb.cells if "nbgrader" in c.metadata}
    theirs = Validator().validate(str(wrong_es))["failed"]
    assert sorted(ours.failing) == sorted(by_source[f["source"]] for f in theirs)
    (dialog,) = [f["raw_error"] for f in theirs if by_source[f["source"]] == "check-softmax-large-logits"]
    assert dialog.startswith("✗ softmax.large_logits: ") and HINT["en"] in " ".join(dialog.split())
    assert all(len(line) <= course_validate.WIDTH for line in dialog.splitlines())


def test_validate_passes_a_solved_lab_in_english(tmp_path):
    path = tmp_path / "lab00.ipynb"
    nbformat.write(learners_lab00("en", wrong_softmax=False, written=True), path)
    rc, out, err = course(path)
    assert (rc, err) == (0, "")
    assert out.splitlines() == ["lab00.ipynb: every graded check passes on the public inputs (20/20 points). Your",
                                "  written answers are graded by hand."], out


def _graded(source, grade_id):
    role = {"grade": True, "solution": False, "locked": True, "grade_id": grade_id, "points": 1}
    return new_code_cell(source, metadata={"nbgrader": role}, execution_count=7,
                         outputs=[nbformat.v4.new_output("stream", text="a passing run, saved earlier\n")])


def test_validate_reports_a_stuck_cell_and_a_dead_kernel_and_needs_no_nbgrader(tmp_path):
    """A cell that never ends is stopped and the run goes on; a kernel that dies leaves the cells after it failed
    as "not run", not passing on the outputs the learner's last run saved. Without nbgrader to import."""
    nb = new_notebook(metadata={"gradcourse": {"lang": "es"}})
    nb.cells = [new_code_cell("import time\ntime.sleep(60)"),
                _graded('"""x.never — nunca pasa"""\nassert False, "mal"', "check-x"),
                new_code_cell("import os\nos._exit(1)"),
                _graded('"""y.after — después"""\npass', "check-y")]
    path = tmp_path / "stuck.ipynb"
    nbformat.write(nb, path)
    start = time.monotonic()
    rc, out, err = course("--timeout", "3", path, block_nbgrader=True)
    assert time.monotonic() - start < 60
    assert (rc, err) == (1, ""), (out, err)
    assert "✗ la celda 1 (import time) dio un error: tardó más de 3 s y se detuvo" in out
    assert "✗ x.never: AssertionError: mal" in out                           # the run went on after it
    assert "✗ y.after: no se ejecutó: el núcleo se detuvo antes de esta celda." in out
    assert "✗ el núcleo se detuvo mientras ejecutaba la celda 3 (import os), antes del final" in " ".join(out.split())
    assert "fallan 2 de 2 comprobaciones calificadas (0/2 puntos" in " ".join(out.split())


def test_a_file_that_is_not_a_lab_exits_2_with_one_line(tmp_path):
    (tmp_path / "broken.ipynb").write_text('{"cells": [')
    nbformat.write(new_notebook(cells=[new_code_cell("1 + 1")]), tmp_path / "plain.ipynb")
    rc, out, err = course("broken.ipynb", "missing.ipynb", "plain.ipynb", cwd=tmp_path)
    assert (rc, out) == (2, "")
    lines = err.splitlines()
    assert [ln.split(":")[1].strip() for ln in lines] == ["broken.ipynb", "missing.ipynb", "plain.ipynb"]
    assert lines[1] == "error: missing.ipynb: no such file · no existe ese archivo"
    assert lines[2].endswith("not one of the course's labs · no tiene celdas calificadas: no es un laboratorio "
                             "del curso")
    spanish = subprocess.run([sys.executable, "-m", "gradcourse.validate", "missing.ipynb"], capture_output=True,
                             text=True, cwd=tmp_path, env={**os.environ, "GRADCOURSE_LANG": "es"})
    assert (spanish.returncode, spanish.stderr) == (2, "error: missing.ipynb: no existe ese archivo\n")


@pytest.mark.parametrize("lang", ["en", "es"])
def test_checksums_are_nbgraders(lang):
    """The course reads nbgrader's checksums without nbgrader: the same digest for every cell as released, and a
    different one for an edited cell."""
    from nbgrader.utils import compute_checksum

    nb = nbformat.read(REPO / "labs" / lang / "lab00.ipynb", 4)
    cells = [c for c in nb.cells if "nbgrader" in c.metadata]
    assert cells and all(course_validate.checksum(c) == compute_checksum(c) == c.metadata.nbgrader.checksum
                         for c in cells)
    edited = cells[0]
    edited.source += "\n# edited"
    assert course_validate.checksum(edited) != edited.metadata.nbgrader.checksum
