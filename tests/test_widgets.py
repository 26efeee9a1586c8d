"""The course's widgets, Python side: the answers they check come from the course's code, the book carries them to
the browser, and a live kernel builds the same widgets with the same front-end files."""

from __future__ import annotations

import ast
import html
import json
import math
import re
from pathlib import Path

import numpy as np
import pytest

from gradcourse.book.mirror import code_cells
from gradcourse.grading.reference import ce_grad, softmax, softmax_jacobian, unbroadcast
from gradcourse.widgets import SCENARIOS, STATIC, BroadcastPicker, Choice, JacobianExplorer, Quiz

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
THEORY = ["chain-rule", "softmax-cross-entropy", "tensor-ops", "matmul-fused-ce", "scalars-to-tensors",
          "gradient-checks", "normalization-routing", "attention"]
# (the page's last mount point also bears the id its first paint waits for: gradcourse.widgets.sphinxext)
MOUNT = re.compile(r'<div (?:id="gc-last-widget" )?class="gc-widget" data-module="([a-z-]+)" '
                   r'data-model="([^"]*)"></div>')
MARKER = re.compile(r"^% widget: quiz (\S+)$", re.M)


def mounts(page: Path) -> list[tuple[str, dict]]:
    """The widget mount points of a built page: (module, state)."""
    return [(m, json.loads(html.unescape(s))) for m, s in MOUNT.findall(page.read_text(encoding="utf8"))]


def book_quizzes(site: Path, lang: str = "en") -> dict[str, dict]:
    found = {}
    for name in THEORY:
        for module, state in mounts(site / lang / "chapters" / f"{name}.html"):
            if module == "quiz":
                assert state["quiz_id"] not in found, f"quiz id {state['quiz_id']} used twice"
                found[state["quiz_id"]] = state
    return found


# --- the picker --------------------------------------------------------------------------------------------


def test_picker_expected_answers_are_unbroadcast():
    picker = BroadcastPicker(seed=7)
    assert [s["id"] for s in picker.scenarios] == [name for name, *_ in SCENARIOS]
    shapes = [(tuple(s["param_shape"]), tuple(s["dy_shape"])) for s in picker.scenarios]
    assert shapes == [((4,), (3, 4)), ((1, 4), (3, 4)), ((2, 1, 3), (2, 4, 3)), ((), (3, 4)), ((4,), (2, 3, 4))]
    for s in picker.scenarios:
        dY = np.array(s["dy"])
        want = unbroadcast(dY, tuple(s["param_shape"]))
        assert tuple(s["expected_shape"]) == want.shape == tuple(s["param_shape"])
        assert np.array_equal(np.array(s["expected"]), want)
        # The one sum the learner is meant to find is what unbroadcast computes.
        axes, keepdims = tuple(s["solution"]["axes"]), s["solution"]["keepdims"]
        assert np.allclose(dY.sum(axis=axes, keepdims=keepdims), want)


def test_picker_reproduces_the_learner_pick():
    picker = BroadcastPicker(seed=7)
    picker.axes = [0]
    assert picker.pick().shape == (4,)
    picker.axes, picker.keepdims = [1], False
    assert picker.pick().shape == (3,)


def test_picker_in_the_book_matches_unbroadcast_and_the_chapter(built_book):
    for lang in ("en", "es"):
        page = built_book / lang / "chapters" / "scalars-to-tensors.html"
        (state,) = [s for m, s in mounts(page) if m == "picker"]
        for s in state["scenarios"]:
            want = unbroadcast(np.array(s["dy"]), tuple(s["param_shape"]))
            assert np.allclose(s["expected"], want) and tuple(s["expected_shape"]) == want.shape
    dY_demo = np.round(np.random.default_rng(7).standard_normal((3, 4)), 2)
    assert np.array_equal(state["scenarios"][0]["dy"], dY_demo), "the picker starts from the chapter's dY_demo"


# --- quizzes -----------------------------------------------------------------------------------------------


def _close(state: dict, value) -> bool:
    return abs(state["answer"] - value) <= state["tol"] + 1e-12


def test_book_quiz_answers_equal_independently_computed_values(built_book):
    q = book_quizzes(built_book)
    z, y = np.array([2.0, 1.0, 0.1]), np.array([1.0, 0.0, 0.0])
    assert q["q-softmax-ce"]["answer"] == round(float((softmax(z) - y)[1]), 3) == 0.242
    assert q["q-softmax-ce"]["tol"] == 5e-4
    assert q["q-dw-shape"]["answer"] == (np.zeros((100, 32)) @ np.zeros((32, 10))).shape[1]
    assert q["q-dx-size"]["answer"] == (np.zeros((32, 10)) @ np.zeros((10, 100))).size
    assert q["q-db-shape"]["answer"] == unbroadcast(np.zeros((32, 64)), (64,)).shape[0]
    assert _close(q["q-tanh-slope"], 1 - np.tanh(0.5) ** 2)
    assert _close(q["q-grad-sum"], float(np.sum(softmax(np.random.default_rng(3).standard_normal(10)) - np.eye(10)[4])))
    assert q["q-chain-reverse-cost"]["answer"] == 784 * 128 + 128 * 10 + 10 * 1
    assert q["q-chain-jacobian-shape"]["answer"] == str(np.zeros((2, 3)).shape)
    assert _close(q["q-softmax-uniform"], softmax_jacobian(np.zeros(3))[0, 0])
    z5, y5 = np.array([2.0, 1.0, 0.5, -1.0, 0.0]), 1
    formulas = {"p - e_y": softmax(z5) - np.eye(5)[y5], "e_y - p": np.eye(5)[y5] - softmax(z5)}
    assert np.allclose(formulas[q["q-softmax-grad"]["answer"]], ce_grad(z5, y5))
    assert q["q-ops-copies"]["answer"] == unbroadcast(np.ones((5, 2, 3)), (2, 1))[0, 0]
    cbar = np.arange(12.0).reshape(4, 3)
    picked = eval(q["q-ops-sum-call"]["answer"], {"cbar": cbar})  # an option is a NumPy call on cbar
    assert picked.shape == (4, 1) and np.allclose(picked, unbroadcast(cbar, (4, 1)))
    assert q["q-matmul-colsum"]["answer"] == np.array([[1.0, 2.0], [3.0, 5.0]]).sum(axis=0)[1]
    raw = np.swapaxes(np.ones((2, 1, 4, 5)), -1, -2) @ np.ones((2, 3, 4, 6))
    assert q["q-matmul-raw-shape"]["answer"] == str(raw.shape)
    ratio = abs((np.sin(1 + 1e-3) - np.sin(1 - 1e-3)) / 2e-3 - np.cos(1)) / abs(
        (np.sin(1 + 1e-4) - np.sin(1 - 1e-4)) / 2e-4 - np.cos(1)
    )
    assert q["q-check-ratio"]["answer"] == round(ratio)
    eps32 = float(np.finfo(np.float32).eps)
    errors = {s: float(s) ** 2 / 6 * np.cos(1) + eps32 * np.sin(1) / float(s) for s in q["q-check-best-h"]["choices"]}
    assert q["q-check-best-h"]["answer"] == min(errors, key=errors.get)
    for state in q.values():
        if state["kind"] == "choice":
            assert state["choices"].count(state["answer"]) == 1


def test_every_quiz_slot_is_a_live_quiz_in_both_languages(built_book):
    en, es = book_quizzes(built_book, "en"), book_quizzes(built_book, "es")
    assert en == es, "the two books must carry the same quizzes (the outputs are shared)"
    seeds = {"q-dw-shape", "q-db-shape", "q-softmax-ce", "q-dx-size", "q-tanh-slope", "q-grad-sum"}
    assert seeds <= set(en)
    for lang in ("en", "es"):
        for name in THEORY:
            text = (BOOK / lang / "chapters" / f"{name}.md").read_text(encoding="utf8")
            slots = MARKER.findall(text)
            assert len(slots) >= 2, f"{lang}/{name}: at least two quizzes"
            built = [s["quiz_id"] for m, s in mounts(built_book / lang / "chapters" / f"{name}.html")
                     if m == "quiz"]
            assert built == slots, f"{lang}/{name}: every '% widget: quiz' slot shows its quiz, in order"


def _calls(tree: ast.AST):
    for node in ast.walk(tree):
        if isinstance(node, ast.Call) and getattr(node.func, "id", None) in {"Quiz", "Choice"}:
            yield node


def test_quiz_answers_are_computed_not_typed():
    """In every chapter, a quiz's answer is a name bound by a computation in the same cell, never a literal."""
    seen = 0
    for name in THEORY:
        for cell in code_cells((BOOK / "en" / "chapters" / f"{name}.md").read_text(encoding="utf8")):
            source = "\n".join(ln for ln in cell.split("\n")[1:-1] if not ln.startswith(":"))
            tree = ast.parse(source)
            for call in _calls(tree):
                seen += 1
                answer = next(k.value for k in call.keywords if k.arg == "answer")
                assert not isinstance(answer, ast.Constant), f"{name}: typed answer {ast.unparse(call)}"
                names = {n.id for n in ast.walk(answer) if isinstance(n, ast.Name)}
                bound = {}
                for node in ast.walk(tree):
                    if isinstance(node, ast.Assign):
                        for target in node.targets:
                            for n in ast.walk(target):
                                if isinstance(n, ast.Name):
                                    bound[n.id] = node.value
                for n in names & bound.keys():
                    assert not isinstance(bound[n], ast.Constant), f"{name}: {n} is a typed constant"
    assert seen >= 16


def test_quiz_rules():
    quiz = Quiz("q", answer=np.float64(0.2424), tol=5e-4)
    assert quiz.check("0.242") and quiz.check("0,242") and not quiz.check("0.5") and not quiz.check("abc")
    assert Quiz("q", answer=np.int64(10)).answer == 10
    with pytest.raises(TypeError):
        Quiz("q", answer="10")
    assert Choice("c", ["(4,)", "(3,)"], answer=str((4,))).check("(4,)")
    with pytest.raises(ValueError):
        Choice("c", ["(4,)", "(3,)"], answer="(1, 4)")


def test_jacobian_explorer_uses_the_reference_softmax():
    explorer = JacobianExplorer(logits=[2.0, 1.0, 0.5, -1.0, 0.0])
    assert np.allclose(explorer.jacobian, softmax_jacobian([2.0, 1.0, 0.5, -1.0, 0.0]))
    explorer.temperature = 2.0
    assert np.allclose(explorer.jacobian, softmax_jacobian(np.array([2.0, 1.0, 0.5, -1.0, 0.0]) / 2))
    assert np.allclose(np.sum(explorer.jacobian, axis=1), 0)


def test_mime_bundle_carries_a_mount_point_and_the_widget_view():
    data, _ = Quiz("q-x", answer=3)._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in data
    ((module, state),) = [(m, json.loads(html.unescape(s))) for m, s in MOUNT.findall(data["text/html"])]
    assert module == "quiz" and state["answer"] == 3 and state["quiz_id"] == "q-x"
    assert not re.search(r"(title|aria-label|placeholder)=", data["text/html"]), "prose belongs to the front end"


def test_built_pages_serve_the_package_files_and_no_anywidget_state(built_book):
    for lang in ("en", "es"):
        for name in ("loader", "picker", "quiz", "jacobian"):
            served = built_book / lang / "_static" / "widgets" / f"{name}.js"
            assert served.read_bytes() == (STATIC / f"{name}.js").read_bytes()
        for name in THEORY:
            page = (built_book / lang / "chapters" / f"{name}.html").read_text(encoding="utf8")
            assert '"model_module": "anywidget"' not in page and "AnyModel" not in page
            assert 'import { mountAsParsed } from "../_static/widgets/loader.js";' in page


# --- a live kernel -----------------------------------------------------------------------------------------

LIVE = """
import numpy as np
from gradcourse.widgets import BroadcastPicker, Choice, JacobianExplorer, Quiz
from gradcourse.grading.reference import softmax
z, y = np.array([2.0, 1.0, 0.1]), np.array([1.0, 0.0, 0.0])
answer_softmax_ce = round(float((softmax(z) - y)[1]), 3)
"""


def test_widgets_in_a_live_kernel(built_book):
    """nbclient runs the widgets in a real kernel: the front-end state holds the answers and the very files the
    book serves."""
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in (
        LIVE,
        "BroadcastPicker(seed=7)",
        'Quiz("q-softmax-ce", answer=answer_softmax_ce, tol=5e-4)',
        'Choice("q-choice", choices=["(4,)", "(3,)"], answer=str(np.zeros((3, 4)).sum(axis=0).shape))',
        "JacobianExplorer(logits=[2.0, 1.0, 0.1], temperature=2.0)",
    )]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()

    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    models = {}
    for cell in nb.cells[1:]:
        (output,) = [o for o in cell.outputs if o.output_type == "execute_result"]
        model_id = output.data["application/vnd.jupyter.widget-view+json"]["model_id"]
        found = MOUNT.findall(output.data["text/html"])
        ((module, book_state),) = [(m, json.loads(html.unescape(s))) for m, s in found]
        model = state[model_id]
        assert model["model_module"] == "anywidget"
        served = built_book / "en" / "_static" / "widgets"
        bundled = (served / f"{module}.js").read_text(encoding="utf8").replace(
            next(line for line in (served / f"{module}.js").read_text().splitlines() if "common.js" in line) + "\n",
            (served / "common.js").read_text(encoding="utf8").replace("export function", "function"))
        assert model["state"]["_esm"] == bundled, f"{module}: not the files the book loads"
        assert model["state"]["_css"] == (built_book / "en" / "_static" / "widgets" / "widgets.css").read_text()
        for key, value in book_state.items():
            assert model["state"][key] == value, f"{module}.{key}: the mount point and the kernel disagree"
        models[module if module != "quiz" else model["state"]["quiz_id"]] = model["state"]

    for s in models["picker"]["scenarios"]:
        want = unbroadcast(np.array(s["dy"]), tuple(s["param_shape"]))
        assert np.allclose(s["expected"], want) and tuple(s["expected_shape"]) == want.shape
    assert models["q-softmax-ce"]["answer"] == 0.242 and models["q-softmax-ce"]["kind"] == "number"
    assert models["q-choice"]["answer"] == "(4,)" and models["q-choice"]["kind"] == "choice"
    jac = models["jacobian"]
    assert np.allclose(jac["jacobian"], softmax_jacobian(np.array([2.0, 1.0, 0.1]) / 2.0))
    assert math.isclose(jac["temperature"], 2.0)


def test_book_pages_keep_ipywidgets_state_and_drop_anywidget_state():
    from gradcourse.widgets.sphinxext import without_anywidgets

    state = {"version_major": 2, "version_minor": 0, "state": {
        "a": {"model_module": "anywidget", "state": {"layout": "IPY_MODEL_la"}},
        "la": {"model_module": "@jupyter-widgets/base", "state": {}},
        "s": {"model_module": "@jupyter-widgets/controls", "state": {"layout": "IPY_MODEL_ls"}},
        "ls": {"model_module": "@jupyter-widgets/base", "state": {}},
    }}
    assert set(without_anywidgets(state)["state"]) == {"s", "ls"}
    assert without_anywidgets({"state": {"a": state["state"]["a"], "la": state["state"]["la"]}})["state"] == {}


@pytest.mark.parametrize("lang", ["en", "es"])
def test_the_lab_that_uses_the_picker_runs_it_in_a_kernel(lang):
    """Lab 02 opens with the broadcast-axis picker: executing the solved lab in a real kernel renders it (as an
    anywidget view, in the notebook's language) next to the learner's own code."""
    import nbformat
    from nbclient import NotebookClient

    lab = ROOT / "solutions" / "labs" / lang / "lab02.ipynb"
    nb = nbformat.read(lab, as_version=4)
    NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(lab.parent)}}).execute()
    state = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"]
    views = [o.data["application/vnd.jupyter.widget-view+json"]["model_id"] for c in nb.cells if c.cell_type == "code"
             for o in c.outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    (picker,) = [state[v]["state"] for v in views if state[v]["model_module"] == "anywidget"]
    assert picker["lang"] == lang and len(picker["scenarios"]) == 5
