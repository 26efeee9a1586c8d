"""The attention explorer (chapter `attention`): its numbers are attention's backward pass, checked here against an
independent forward pass and finite differences; it refuses a chapter whose own backward disagrees; the book
carries its state and the chapter's quizzes; a live kernel runs the same front-end file; and in a real browser,
with no kernel, it recomputes every row from that state, by keyboard, in the page's language."""

from __future__ import annotations

import html
import json
import re
from pathlib import Path

import numpy as np
import pytest

from gradcourse.widgets import STATIC, AttentionExplorer, esm
from test_terminology import js_language_block
from test_widgets import MOUNT, mounts
from test_widgets_browser import CONTRAST

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"
PAGE = "chapters/attention"
MARKER = re.compile(r"^% widget: quiz (\S+)$", re.M)
TITLE = {"en": "Attention backward, one query row at a time",
         "es": "El paso hacia atrás de la atención, fila a fila"}
ROW_LABEL = {"en": "Query row i", "es": "Fila de consulta i"}
CAUSAL_LABEL = {"en": "Causal mask", "es": "Máscara causal"}


# --- an independent reference: the forward pass written differently, and finite differences --------------------


def forward(Q, K, V, causal):
    """Attention without the row-max shift and with the mask as a 0/1 factor on exp (fine for small scores)."""
    E = np.exp(Q @ K.T / np.sqrt(Q.shape[1]))
    if causal:
        E = E * np.tril(np.ones_like(E))
    P = E / E.sum(axis=1, keepdims=True)
    return P @ V, P


def fd_grads(Q, K, V, dO, causal, h=1e-6):
    def loss(args):
        return float(np.sum(dO * forward(*args, causal)[0]))

    grads = []
    for which in range(3):
        args = [np.array(a, dtype=float) for a in (Q, K, V)]
        g = np.zeros_like(args[which])
        for idx in np.ndindex(g.shape):
            plus, minus = [a.copy() for a in args], [a.copy() for a in args]
            plus[which][idx] += h
            minus[which][idx] -= h
            g[idx] = (loss(plus) - loss(minus)) / (2 * h)
        grads.append(g)
    return grads


def draw(seed, tq=5, tk=5, d=3, dv=2):
    rng = np.random.default_rng(seed)
    return (rng.standard_normal((tq, d)), rng.standard_normal((tk, d)), rng.standard_normal((tk, dv)),
            rng.standard_normal((tq, dv)))


def chapter_backward(Q, K, V, dO, causal=False):
    """The chapter's function, written out again (a stack of heads, stable)."""
    d = Q.shape[-1]
    S = Q @ np.swapaxes(K, -1, -2) / np.sqrt(d)
    if causal:
        S = np.where(np.triu(np.ones(S.shape[-2:], dtype=bool), k=1), -np.inf, S)
    E = np.exp(S - S.max(axis=-1, keepdims=True))
    P = E / E.sum(axis=-1, keepdims=True)
    dP = dO @ np.swapaxes(V, -1, -2)
    dS = P * (dP - np.sum(P * dP, axis=-1, keepdims=True))
    return dS @ K / np.sqrt(d), np.swapaxes(dS, -1, -2) @ Q / np.sqrt(d), np.swapaxes(P, -1, -2) @ dO


# --- Python side --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("causal", "tq", "tk"), [(True, 5, 5), (False, 3, 6), (False, 1, 1)])
def test_state_is_attention_and_its_gradients(causal, tq, tk):
    Q, K, V, dO = draw(1, tq, tk)
    explorer = AttentionExplorer(Q, K, V, dO, causal=causal)
    assert np.allclose(explorer.weights, forward(Q, K, V, causal)[1], atol=1e-14)
    for got, want in zip((explorer.dq, explorer.dk, explorer.dv), fd_grads(Q, K, V, dO, causal)):
        assert np.asarray(got).shape == want.shape
        assert np.max(np.abs(np.asarray(got) - want)) < 1e-8
    assert np.allclose(np.sum(explorer.d_scores, axis=1), 0, atol=1e-14)


def test_row_shares_add_up_to_the_key_and_value_gradients():
    Q, K, V, dO = draw(2)
    explorer = AttentionExplorer(Q, K, V, dO, causal=True)
    shares = [explorer.row_shares(i) for i in range(5)]
    assert np.allclose(sum(s["to_dk"] for s in shares), explorer.dk)
    assert np.allclose(sum(s["to_dv"] for s in shares), explorer.dv)
    assert np.allclose([s["dq"] for s in shares], explorer.dq)
    # The first causal query sees one key: weight 1, no gradient anywhere from it.
    assert shares[0]["p"].tolist() == [1, 0, 0, 0, 0]
    assert np.all(shares[0]["ds"] == 0) and np.all(shares[0]["to_dk"] == 0)
    # A masked key keeps its dP but receives nothing.
    assert shares[1]["dp"][4] != 0 and shares[1]["ds"][4] == 0 and np.all(shares[1]["to_dv"][4] == 0)


def test_the_mask_can_be_switched_and_the_answers_follow():
    Q, K, V, dO = draw(3)
    explorer = AttentionExplorer(Q, K, V, dO, causal=True)
    explorer.causal = False
    assert np.allclose(explorer.weights, forward(Q, K, V, False)[1])
    assert all(np.allclose(a, b) for a, b in zip((explorer.dq, explorer.dk, explorer.dv),
                                                  chapter_backward(Q, K, V, dO, False)))


def test_large_scores_stay_finite():
    Q, K, V, dO = draw(4)
    explorer = AttentionExplorer(1000 * Q, K, V, dO, causal=True)
    assert all(np.isfinite(np.asarray(x)).all() for x in (explorer.weights, explorer.dq, explorer.dk, explorer.dv))


def _unscaled(Q, K, V, dO, causal=False):
    dQ, dK, dV = chapter_backward(Q, K, V, dO, causal)
    return dQ * np.sqrt(Q.shape[-1]), dK * np.sqrt(Q.shape[-1]), dV


def _columnwise(Q, K, V, dO, causal=False):
    d = Q.shape[-1]
    _, P = forward(Q, K, V, causal)
    dP = dO @ V.T
    dS = P * (dP - np.sum(P * dP, axis=-2, keepdims=True))
    return dS @ K / np.sqrt(d), dS.T @ Q / np.sqrt(d), P.T @ dO


def _mask_ignored(Q, K, V, dO, causal=False):
    return chapter_backward(Q, K, V, dO, False)


@pytest.mark.parametrize("wrong", [_unscaled, _columnwise, _mask_ignored])
def test_a_chapter_whose_backward_disagrees_is_refused(wrong):
    Q, K, V, dO = draw(5)
    AttentionExplorer(Q, K, V, dO, causal=True, backward=chapter_backward)  # the right one is accepted
    with pytest.raises(ValueError, match="disagrees with the reference"):
        AttentionExplorer(Q, K, V, dO, causal=True, backward=wrong)


@pytest.mark.parametrize(("shapes", "options", "message"), [
    (((3, 2), (4, 2), (4, 2), (3, 2)), {"causal": True}, "Tq == Tk"),
    (((3, 2), (3, 3), (3, 2), (3, 2)), {}, "shapes do not fit"),
    (((3, 2), (3, 2), (4, 2), (3, 2)), {}, "shapes do not fit"),
    (((9, 2), (9, 2), (9, 2), (9, 2)), {}, "at most 8"),
    (((3, 2), (3, 2), (3, 2), (3, 2)), {"row": 3}, "row must be"),
    (((2, 3, 2), (3, 2), (3, 2), (3, 2)), {}, "one head"),
])
def test_inputs_that_do_not_describe_one_small_head_are_refused(shapes, options, message):
    arrays = [np.ones(s) for s in shapes]
    with pytest.raises(ValueError, match=re.escape(message)):
        AttentionExplorer(*arrays, **options)


def test_a_mask_or_row_that_does_not_fit_is_refused_later_too():
    import traitlets

    explorer = AttentionExplorer(*draw(7, tq=3, tk=4))
    with pytest.raises(traitlets.TraitError, match="Tq == Tk"):
        explorer.causal = True
    with pytest.raises(traitlets.TraitError, match="row must be"):
        explorer.row = 3
    explorer.row = 2
    assert explorer.causal is False and explorer.row == 2


def test_inputs_that_are_not_finite_are_refused():
    with pytest.raises(ValueError, match="finite"):
        AttentionExplorer(np.full((2, 2), np.nan), np.ones((2, 2)), np.ones((2, 2)), np.ones((2, 2)))


def test_mount_point_carries_the_state_and_no_prose():
    explorer = AttentionExplorer(*draw(6), causal=True)
    data, _ = explorer._repr_mimebundle_()
    ((module, state),) = [(m, json.loads(html.unescape(s))) for m, s in MOUNT.findall(data["text/html"])]
    assert module == "attention"
    assert set(state) >= {"q", "k", "v", "d_out", "causal", "row", "weights", "d_scores", "dq", "dk", "dv", "lang"}
    assert state["weights"] == explorer.weights and state["causal"] is True
    assert not re.search(r"(title|aria-label|placeholder)=", data["text/html"]), "prose belongs to the front end"
    bundled = esm("attention")
    assert "./common.js" not in bundled and "function h(" in bundled and "export default" in bundled


def test_front_end_has_every_label_in_both_languages():
    source = (STATIC / "attention.js").read_text(encoding="utf8")
    keys = {lang: {key for key, _, _ in js_language_block(source, lang, keys=True)} for lang in ("en", "es")}
    assert keys["en"] == keys["es"] and {"title", "row", "causal", "masked", "legend"} <= keys["en"]


# --- the book -------------------------------------------------------------------------------------------------


def test_the_chapter_carries_the_explorer_and_its_quizzes(built_book):
    states = {}
    for lang in ("en", "es"):
        page = built_book / lang / f"{PAGE}.html"
        found = mounts(page)
        (state,) = [s for m, s in found if m == "attention"]
        Q, K, V, dO = (np.array(state[n]) for n in ("q", "k", "v", "d_out"))
        assert Q.shape == (5, 2) and state["causal"] is True and state["row"] == 0
        assert np.allclose(state["weights"], forward(Q, K, V, True)[1])
        for got, want in zip((state["dq"], state["dk"], state["dv"]), fd_grads(Q, K, V, dO, True)):
            assert np.max(np.abs(np.array(got) - want)) < 1e-8
        quizzes = [s for m, s in found if m == "quiz"]
        slots = MARKER.findall((BOOK / lang / f"{PAGE}.md").read_text(encoding="utf8"))
        assert [q["quiz_id"] for q in quizzes] == slots == ["q-attn-ds-shape", "q-attn-dv-last", "q-attn-memory"]
        states[lang] = (state, quizzes)
        served = built_book / lang / "_static" / "widgets" / "attention.js"
        assert served.read_bytes() == (STATIC / "attention.js").read_bytes()
        assert '"model_module": "anywidget"' not in page.read_text(encoding="utf8")
    assert _same_but_lang(states["en"], states["es"]), "one executed output serves both books"
    quiz = {q["quiz_id"]: q for q in states["en"][1]}
    assert quiz["q-attn-ds-shape"]["answer"] == str((2, 16, 128, 256))
    assert quiz["q-attn-ds-shape"]["choices"].count(quiz["q-attn-ds-shape"]["answer"]) == 1
    Qw = np.array([[1.0, 0, 1, 0], [0, 2, 0, 0], [1, 1, 0, 1]])
    Kw = np.array([[1.0, 0, 0, 0], [0, 1, 1, 0], [1, 1, 1, 1]])
    p22 = forward(Qw, Kw, np.eye(3, 2), True)[1][2, 2]
    assert abs(quiz["q-attn-dv-last"]["answer"] - 3 * p22) <= quiz["q-attn-dv-last"]["tol"]
    assert abs(quiz["q-attn-memory"]["answer"] - 16 * 8192**2 * 2 / 1e9) <= quiz["q-attn-memory"]["tol"]


def _same_but_lang(a, b):
    strip = lambda s: {k: v for k, v in s.items() if k != "lang"}  # noqa: E731
    return strip(a[0]) == strip(b[0]) and a[1] == b[1]


# --- a live kernel ----------------------------------------------------------------------------------------------


def test_explorer_in_a_live_kernel():
    """nbclient runs the explorer in a real kernel: the model holds the very front-end file and the answers."""
    nbformat = pytest.importorskip("nbformat")
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(
        "import numpy as np\nfrom gradcourse.widgets import AttentionExplorer\n"
        "rng = np.random.default_rng(0)\n"
        "AttentionExplorer(*(np.round(rng.standard_normal((5, 2)), 1) for _ in range(4)), causal=True, row=2)")]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    NotebookClient(nb, timeout=60, kernel_name="python3", resources={"metadata": {"path": str(ROOT)}}).execute()
    (output,) = [o for o in nb.cells[0].outputs if o.output_type == "execute_result"]
    model_id = output.data["application/vnd.jupyter.widget-view+json"]["model_id"]
    model = nb.metadata["widgets"]["application/vnd.jupyter.widget-state+json"]["state"][model_id]["state"]
    assert model["_esm"] == esm("attention")
    assert model["_css"] == (STATIC / "widgets.css").read_text(encoding="utf8")
    ((module, book_state),) = [(m, json.loads(html.unescape(s))) for m, s in MOUNT.findall(output.data["text/html"])]
    assert module == "attention"
    for key, value in book_state.items():
        assert model[key] == value, f"{key}: the mount point and the kernel disagree"
    assert model["row"] == 2 and model["causal"] is True


# --- a real browser, no kernel ---------------------------------------------------------------------------------


# What the per-key table and the dQ line show, read in one round trip to the page.
SHOWN_ROW = """root => {
  const rows = [...root.querySelectorAll(".gc-keys tbody tr")];
  const cell = (row, part) => row.querySelector(`td[data-part='${part}']`).textContent;
  const numbers = (text) => (text.match(/-?\\d+\\.\\d+/g) || []).map(Number);
  return {
    p: rows.map((r) => Number(cell(r, "p"))),
    ds: rows.map((r) => Number(cell(r, "ds"))),
    dp: rows.map((r) => Number(cell(r, "dp"))),
    to_dv: rows.map((r) => numbers(cell(r, "to-dv"))),
    to_dk: rows.map((r) => numbers(cell(r, "to-dk"))),
    masked: rows.map((r) => r.dataset.masked === "true"),
    dq: numbers(root.querySelector(".gc-dq").textContent.split("=").pop()),
  };
}"""


def _shown_row(explorer) -> dict:
    return explorer.evaluate(SHOWN_ROW)


@pytest.mark.parametrize("lang", ["en", "es"])
def test_every_row_by_keyboard_matches_the_gradients(visit, book_url, lang):
    tab = visit()
    page = tab.open(f"{book_url}/{lang}/{PAGE}.html")
    explorer = tab.show(page.locator(".gc-attention"))
    state = json.loads(page.locator(".gc-widget[data-module='attention']").get_attribute("data-model"))
    Q, K, V, dO = (np.array(state[n]) for n in ("q", "k", "v", "d_out"))
    assert explorer.locator(".gc-title").inner_text() == TITLE[lang]
    slider = explorer.get_by_label(ROW_LABEL[lang], exact=True)
    slider.focus()
    _, P = forward(Q, K, V, True)
    dS = np.array(state["d_scores"])
    to_dk, to_dv = np.zeros_like(K), np.zeros_like(V)
    for i in range(5):
        if i:
            page.keyboard.press("ArrowRight")
        assert explorer.get_attribute("data-row") == str(i) and slider.input_value() == str(i)
        assert explorer.locator("tr[aria-current='true']").get_attribute("data-row") == str(i)
        shown = _shown_row(explorer)
        assert shown["p"] == pytest.approx(P[i], abs=6e-4)
        assert shown["ds"] == pytest.approx(dS[i], abs=6e-4)
        assert shown["dp"] == pytest.approx(dO[i] @ V.T, abs=6e-4)
        assert shown["dq"] == pytest.approx(state["dq"][i], abs=6e-4)
        assert shown["masked"] == [j > i for j in range(5)]
        to_dk += np.array(shown["to_dk"])
        to_dv += np.array(shown["to_dv"])
        sums = explorer.locator(".gc-sums").inner_text()
        assert "= 1.000" in sums and "= 0.000" in sums
    # What the five rows send, added up in the reader's browser, is Python's dK and dV.
    assert to_dk == pytest.approx(np.array(state["dk"]), abs=3e-3)
    assert to_dv == pytest.approx(np.array(state["dv"]), abs=3e-3)
    tab.assert_clean()


def test_the_mask_by_keyboard(visit, book_url):
    tab = visit()
    page = tab.open(f"{book_url}/en/{PAGE}.html")
    explorer = page.locator(".gc-attention")
    state = json.loads(page.locator(".gc-widget[data-module='attention']").get_attribute("data-model"))
    Q, K, V, dO = (np.array(state[n]) for n in ("q", "k", "v", "d_out"))
    explorer.get_by_label(ROW_LABEL["en"], exact=True).focus()
    page.keyboard.press("Tab")
    box = explorer.get_by_label(CAUSAL_LABEL["en"], exact=False)
    assert box.evaluate("el => el === document.activeElement")
    assert box.evaluate("el => getComputedStyle(el).outlineStyle") != "none", "no visible focus"
    page.keyboard.press("Space")
    assert explorer.get_attribute("data-causal") == "false" and not box.is_checked()
    shown = _shown_row(explorer)
    assert shown["masked"] == [False] * 5
    assert shown["p"] == pytest.approx(forward(Q, K, V, False)[1][0], abs=6e-4)
    assert shown["dq"] == pytest.approx(chapter_backward(Q, K, V, dO, False)[0][0], abs=6e-4)
    assert explorer.locator(".gc-weights td[aria-label]").count() == 0
    page.keyboard.press("Space")
    assert explorer.get_attribute("data-causal") == "true"
    assert explorer.locator(".gc-weights td[aria-label]").count() == 10  # the strict upper triangle of 5 x 5
    # The mouse's shortcut: a click on a row of the weights picks it.
    explorer.locator(".gc-weights tr[data-row='3']").click()
    assert explorer.get_attribute("data-row") == "3"
    tab.assert_clean()


@pytest.mark.parametrize("lang", ["en", "es"])
def test_dark_mode_on_a_phone_is_legible(visit, built_book, book_url, lang):
    tab = visit(color_scheme="dark", viewport={"width": 390, "height": 844}, device_scale_factor=1)
    page = tab.open(f"{book_url}/{lang}/{PAGE}.html")
    page.wait_for_function("document.documentElement.dataset.theme === 'dark'")
    explorer = page.locator(".gc-attention")
    explorer.get_by_label(ROW_LABEL[lang], exact=True).fill("3")  # a row with weights and gradients of both signs
    explorer.scroll_into_view_if_needed()
    shots = built_book.parent / "screenshots"  # beside the built site, as for the other widgets
    shots.mkdir(parents=True, exist_ok=True)
    shot = shots / f"attention-{lang}-dark.png"
    explorer.screenshot(path=str(shot))
    assert shot.stat().st_size > 1000
    worst = explorer.evaluate(CONTRAST)
    assert worst["ratio"] >= 4.5, f"low contrast {worst}"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "the page scrolls sideways on a phone"
    box = explorer.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    tab.assert_clean()
