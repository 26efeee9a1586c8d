"""The learner's side of a lab: a failing graded cell shows its message alone (no traceback through the course's
package), "Run All" on a half-finished lab reaches every self-check and graded cell while nbgrader still counts
the failures, no book-only cell reaches learners, and docstrings and comments are in the notebook's language. A saved
lab keeps, where a course widget was, a note to run its cell again (never a dangling widget reference)."""
import json
import re
import subprocess
import sys

import nbformat
import pytest
from nbclient import NotebookClient

from gradcourse.scoring import course as nbgrader_course
from gradcourse.book.mirror import code_without_prose, prose_spans
from gradcourse.authoring import labgen
from gradcourse.grading import checks

from .conftest import REPO

LABS = labgen.labs()
WRONG_SOFTMAX = "def softmax(z):\n    e = np.exp(z)\n    return e / e.sum(axis=-1, keepdims=True)\n"
HINT = {"en": "did you subtract max(z) before exp?", "es": "¿restaste max(z) antes de exp?"}


def _with_wrong_softmax(lang):
    nb = nbformat.read(REPO / "labs" / lang / "lab00.ipynb", 4)
    (cell,) = [c for c in nb.cells if c.cell_type == "code" and c.source.startswith("def softmax(")]
    cell.source = WRONG_SOFTMAX
    return nb


def _run_all(nb, folder):
    """Run every cell as "Run All" does: without allow_errors, so an error stops the run unless the cell is
    tagged raises-exception (nbclient and JupyterLab agree on that tag)."""
    NotebookClient(nb, timeout=120, kernel_name="python3", resources={"metadata": {"path": str(folder)}}).execute()
    return nb


def _grade_id(cell):
    return cell.metadata.get("nbgrader", {}).get("grade_id")


@pytest.fixture(scope="module", params=["en", "es"])
def half_finished(request):
    lang = request.param
    return lang, _run_all(_with_wrong_softmax(lang), REPO / "labs" / lang)


def test_failing_graded_cell_shows_its_message_without_course_internals(half_finished):
    lang, nb = half_finished
    (cell,) = [c for c in nb.cells if _grade_id(c) == "check-softmax-large-logits"]
    (err,) = [o for o in cell.outputs if o.output_type == "error"]
    shown = "\n".join(err.traceback)
    assert "gradcourse/" not in shown and "Traceback" not in shown and "File " not in shown, shown
    assert shown.startswith(f"{checks.FAIL} softmax.large_logits: ")
    assert HINT[lang] in " ".join(shown.split())
    assert all(len(line) <= checks.core.WIDTH for line in err.traceback)   # nbgrader validate cuts longer lines
    assert err.ename == "CheckFailed"


def test_run_all_reaches_every_self_check_and_graded_cell(half_finished):
    lang, nb = half_finished
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(c.execution_count for c in code if c.source.strip()), "Run All stopped early"
    for c in code:
        errors = [o for o in c.outputs if o.output_type == "error"]
        if c.metadata.get("nbgrader", {}).get("grade"):
            assert "raises-exception" in c.metadata.get("tags", [])
            assert all("gradcourse/" not in "\n".join(o.traceback) for o in errors)
        else:
            assert not errors, (c.source, errors)
        if c.source.lstrip().startswith("self_check("):
            lines = "".join(o.get("text", "") for o in c.outputs).splitlines()
            assert lines and all(ln[:1] in (checks.PASS, checks.FAIL) for ln in lines), lines
    notes = [o.text for c in code for o in c.outputs if o.output_type == "stream" and "(E" in o.text]
    word = {"en": "(Example skipped:", "es": "(Ejemplo omitido:"}[lang]
    assert notes and all(n.startswith(word) and n.count("\n") == 1 for n in notes), notes


def test_nbgrader_validate_still_counts_the_failed_graded_cells(tmp_path):
    nb = _with_wrong_softmax("en")
    path = tmp_path / "lab00.ipynb"
    nbformat.write(nb, path)
    proc = subprocess.run([sys.executable, "-m", "nbgrader", "validate", str(path)], cwd=tmp_path,
                          capture_output=True, text=True, env=nbgrader_course.env())
    out = proc.stdout + proc.stderr
    graded = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"]
    passing = {"check-softmax-values", "check-softmax-batch", "check-softmax-no-mutation"}
    manual = [c for c in nb.cells if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "markdown"]
    assert f"VALIDATION FAILED ON {len(graded) - len(passing) + len(manual)} CELL(S)" in out, out
    assert HINT["en"] in " ".join(out.split())                        # wrapped, so nbgrader shows it whole
    assert "gradcourse/" not in out


def test_unfinished_hides_no_real_error(capsys):
    def finished(x):
        return x + undefined_name  # noqa: F821 - a real error in finished code

    for exc_source in (lambda: finished(1), lambda: 1 / 0):
        try:
            exc_source()
        except Exception as exc:  # noqa: BLE001
            assert checks.unfinished(exc, "en") is False
    try:
        raise NotImplementedError()
    except NotImplementedError as exc:
        assert checks.unfinished(exc, "es") is True
    assert capsys.readouterr().out.startswith("(Ejemplo omitido:")


@pytest.mark.parametrize("folder", ["grader/source/{lab}-{lang}", "grader/release/{lab}-{lang}", "labs/{lang}",
                                    "book/{lang}/labs"])
@pytest.mark.parametrize("lang", ["en", "es"])
def test_no_book_only_cell_reaches_learners_or_nbgrader(folder, lang):
    for lab in LABS:
        path = REPO / folder.format(lab=lab, lang=lang)
        nb = nbformat.read(path / f"{lab}.ipynb" if path.is_dir() else path, 4)
        assert not [c for c in nb.cells if labgen.BOOK_ONLY in c.metadata.get("tags", [])], (lab, folder)


def test_book_only_cells_stay_in_the_solved_notebooks():
    nb = nbformat.read(REPO / "solutions/labs/es/lab03.ipynb", 4)
    assert any(labgen.BOOK_ONLY in c.metadata.get("tags", []) for c in nb.cells)


def _lab(tmp_path, cell):
    text = (REPO / "grader/labsrc/lab01.md").read_text()
    root = tmp_path / "course"
    (root / "grader/labsrc").mkdir(parents=True)
    (root / "grader/labsrc/lab01.md").write_text(text + "\n" + cell)
    return root


def test_generator_refuses_a_book_only_cell_with_a_role_and_an_unmarked_example(tmp_path):
    role = "```{code-cell} ipython3\n:tags: [remove-cell]\n:nb: readonly\n:grade_id: x\n\nassert True\n```\n"
    with pytest.raises(ValueError, match="book-only"):
        labgen.source_notebook("lab01", "en", _lab(tmp_path / "a", role))
    call = "```{code-cell} ipython3\nprint(two_layer_grads(W1, W2, x, gy))\n```\n"
    with pytest.raises(ValueError, match="nb: example"):
        labgen.source_notebook("lab01", "en", _lab(tmp_path / "b", call))


def test_generator_refuses_an_untranslated_docstring_or_comment(tmp_path):
    cell = "```{code-cell} ipython3\n\ndef helper(v):\n    return v  # the same value\n```\n"
    with pytest.raises(ValueError, match="no Spanish text"):
        labgen.source_notebook("lab01", "es", _lab(tmp_path, cell))


def _prose_of(source):
    return [source[a:b] for a, b, _ in prose_spans(source) if "SOLUTION" not in source[a:b]]


@pytest.mark.parametrize("lab", LABS)
def test_docstrings_and_comments_are_in_the_notebooks_language(lab):
    en, es = (nbformat.read(REPO / "labs" / lang / f"{lab}.ipynb", 4) for lang in ("en", "es"))
    code_en = [c.source for c in en.cells if c.cell_type == "code"]
    code_es = [c.source for c in es.cells if c.cell_type == "code"]
    assert [code_without_prose(c) for c in code_en] == [code_without_prose(c) for c in code_es]
    prose_es = [p for c in code_es for p in _prose_of(c) if p != "# ✍️"]
    prose_en = {p for c in code_en for p in _prose_of(c)}
    assert prose_es and not [p for p in prose_es if p in prose_en], "English docstring or comment in Spanish lab"
    for p in prose_es:
        words = set(re.findall(r"\b[a-z]{3,}\b", p))
        assert not words & {"the", "and", "with", "never", "given", "gradient", "leaves"}, p


def test_code_without_prose_changes_only_docstrings_and_comments():
    a = 'def f(x):\n    """English."""\n    return x + 1  # one\n'
    b = 'def f(x):\n    """Español."""\n    return x + 1  # uno\n'
    c = 'def f(x):\n    """English."""\n    return x + 2  # one\n'
    assert code_without_prose(a) == code_without_prose(b) != code_without_prose(c)
    assert code_without_prose('s = "# not a comment"') == 's = "# not a comment"'


# --- widgets in a saved lab: gradcourse.widgets.saving ---------------------------------------------------------------

def _widget_output(widget):
    data, metadata = widget._repr_mimebundle_()
    return nbformat.v4.new_output("execute_result", data=data, metadata=metadata, execution_count=3)


def test_a_saved_course_widget_becomes_a_note_in_its_language_and_nothing_else_changes(tmp_path, monkeypatch):
    """Through a real Jupyter contents manager, as JupyterLab saves: the course widget's output becomes the note (in
    the widget's language, not the notebook's), another widget's output and every other output stay as they were."""
    from jupyter_server.services.contents.filemanager import FileContentsManager

    from gradcourse.widgets import BroadcastPicker
    from gradcourse.widgets.saving import VIEW_TYPE, pre_save_hook, rerun_note

    monkeypatch.setenv("GRADCOURSE_LANG", "es")
    picker = _widget_output(BroadcastPicker())
    other = nbformat.v4.new_output("display_data", data={VIEW_TYPE: {"model_id": "x", "version_major": 2,
                                                                      "version_minor": 0}, "text/plain": "Slider"})
    printed = nbformat.v4.new_output("stream", name="stdout", text="✓ unbroadcast.leading_axes (2/2): ...\n")
    nb = nbformat.v4.new_notebook(metadata={"gradcourse": {"lang": "en"}}, cells=[
        nbformat.v4.new_code_cell("BroadcastPicker()", outputs=[picker]),
        nbformat.v4.new_code_cell("slider", outputs=[other, printed])])
    cm = FileContentsManager(root_dir=str(tmp_path))
    cm.register_pre_save_hook(pre_save_hook)
    cm.save({"type": "notebook", "format": "json", "content": json.loads(nbformat.writes(nb))}, "lab02.ipynb")
    saved = nbformat.read(tmp_path / "lab02.ipynb", 4)
    assert saved.cells[0].outputs == [nbformat.v4.new_output("execute_result", data={"text/plain": rerun_note("es")},
                                                             execution_count=3)]
    assert saved.cells[1].outputs == [other, printed]
    assert rerun_note("es").startswith("El widget aparece aquí") and rerun_note("en") != rerun_note("es")


def test_the_save_hook_never_stops_a_save():
    """Odd notebooks go through: a mount point whose state is not JSON (in a list of lines, as nbformat may write
    text), outputs without data, a cell without outputs, metadata that is not a dict, a file that is no notebook."""
    from gradcourse.widgets.saving import VIEW_TYPE, pre_save_hook, rerun_note

    mount = ['<div class="gc-widget" ', 'data-module="picker" data-model="{"></div>']
    outputs = [{"data": {VIEW_TYPE: {}, "text/html": mount}}, {"data": None}, {}]
    odd = {"type": "notebook", "content": {"cells": [{"cell_type": "code", "outputs": outputs},
                                                     {"cell_type": "code"}], "metadata": {"gradcourse": None}}}
    pre_save_hook(model=odd, path="x.ipynb", contents_manager=None)
    pre_save_hook(model={"type": "file", "content": "text"}, path="x.txt", contents_manager=None)
    pre_save_hook(model={"type": "notebook", "content": {"cells": "not a list"}}, path="y.ipynb", contents_manager=None)
    assert outputs == [{"data": {"text/plain": rerun_note("en")}}, {"data": None}, {}]
