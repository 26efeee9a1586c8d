"""The course's widgets in the built book, in a real browser (Debian's chromium), with no network: the picker, the
quizzes and the softmax Jacobian explorer work with no kernel, in the page's language, by keyboard, on a phone-sized
screen and in dark mode."""

from __future__ import annotations

import json
from pathlib import Path

import pytest


ROOT = Path(__file__).resolve().parents[1]
SHOTS = ROOT / "_build" / "screenshots"
TEXT = {
    "en": {"correct": "Correct", "mismatch": "Shape mismatch", "not_broadcast": "Axis 1 was not broadcast",
           "wrong": "Not yet", "answer_label": "Your answer"},
    "es": {"correct": "Correcto", "mismatch": "Las formas no coinciden", "not_broadcast": "El eje 1 no se difundió",
           "wrong": "Todavía no", "answer_label": "Tu respuesta"},
}


@pytest.mark.parametrize("lang", ["en", "es"])
def test_picker_accepts_axis_0_and_explains_axis_1(visit, book_url, lang):
    tab = visit()
    page = tab.open(f"{book_url}/{lang}/chapters/scalars-to-tensors.html")
    picker = page.locator(".gc-picker")
    feedback = picker.locator(".gc-feedback")
    assert picker.locator("select option").count() == 5
    picker.locator("input[data-axis='0']").check()
    assert feedback.get_attribute("data-status") == "correct"
    assert feedback.inner_text().startswith(TEXT[lang]["correct"])
    assert picker.get_attribute("data-shape") == "(4,)"
    assert "(4,)" in picker.locator(".gc-call").inner_text()
    picker.locator("input[data-axis='0']").uncheck()
    picker.locator("input[data-axis='1']").check()
    assert feedback.get_attribute("data-status") == "mismatch"
    message = feedback.inner_text()
    assert TEXT[lang]["mismatch"] in message and "(3,)" in message and TEXT[lang]["not_broadcast"] in message
    assert picker.get_attribute("data-shape") == "(3,)"
    assert feedback.get_attribute("aria-live") == "polite"
    tab.assert_clean()


def test_picker_by_keyboard_alone(visit, book_url):
    tab = visit()
    page = tab.open(f"{book_url}/en/chapters/scalars-to-tensors.html")
    picker = page.locator(".gc-picker")
    select = picker.locator("select")
    # Start at the toggle of the picker's code cell, just before the widget, and Tab into the picker.
    page.locator(".cell:has(.gc-picker) summary").focus()
    select.evaluate("el => { el.dataset.goal = 'yes'; }")
    for _ in range(5):
        page.keyboard.press("Tab")
        if page.evaluate("document.activeElement.dataset.goal === 'yes'"):
            break
    else:
        pytest.fail("Tab never reached the picker")
    assert select.evaluate("el => getComputedStyle(el).outlineStyle") != "none", "no visible focus"
    page.keyboard.press("ArrowDown")  # second scenario: b of shape (1, 4)
    assert select.input_value() == "1"
    assert "(1, 4)" in picker.locator(".gc-forward").inner_text()
    page.keyboard.press("Tab")
    assert page.evaluate("document.activeElement.dataset.axis") == "0"
    page.keyboard.press("Space")
    feedback = picker.locator(".gc-feedback")
    assert feedback.get_attribute("data-status") == "mismatch"  # (4,): the length-1 axis is gone
    assert "keepdims" in feedback.inner_text()
    page.keyboard.press("Tab")  # axis 1
    page.keyboard.press("Tab")  # keepdims
    assert page.evaluate("document.activeElement.id").endswith("-keepdims")
    page.keyboard.press("Space")
    assert feedback.get_attribute("data-status") == "correct"
    assert picker.get_attribute("data-shape") == "(1, 4)"
    page.keyboard.press("Tab")
    button = picker.locator("button[aria-controls]")
    assert button.evaluate("el => el === document.activeElement")
    page.keyboard.press("Enter")
    assert button.get_attribute("aria-expanded") == "true"
    assert "dY.sum(axis=0, keepdims=True)" in picker.locator(".gc-answer").inner_text()
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("Shift+Tab")
    page.keyboard.press("ArrowDown")
    page.keyboard.press("ArrowDown")  # the scalar c of shape ()
    assert select.input_value() == "3"
    for _axis in ("0", "1"):
        page.keyboard.press("Tab")
        page.keyboard.press("Space")
    assert feedback.get_attribute("data-status") == "correct" and picker.get_attribute("data-shape") == "()"
    tab.assert_clean()


@pytest.mark.parametrize("lang", ["en", "es"])
def test_numeric_quiz_accepts_0_242_and_rejects_0_5(visit, book_url, lang):
    tab = visit()
    page = tab.open(f"{book_url}/{lang}/chapters/scalars-to-tensors.html")
    quiz = tab.show(page.locator("form.gc-quiz[data-quiz='q-softmax-ce']"))
    # The quiz sits in its question's admonition, and the question describes the input.
    assert quiz.evaluate("f => f.parentElement.classList.contains('admonition')")
    field = quiz.get_by_label(TEXT[lang]["answer_label"])
    described = field.get_attribute("aria-describedby").split()
    assert any("softmax" in page.locator(f"[id='{i}']").inner_text() for i in described)
    feedback = quiz.locator(".gc-feedback")
    field.fill("0.5")
    field.press("Enter")
    assert feedback.get_attribute("data-status") == "wrong"
    assert feedback.inner_text().startswith(TEXT[lang]["wrong"])
    field.fill("0.242")
    quiz.locator("button[type=submit]").click()
    assert feedback.get_attribute("data-status") == "correct"
    assert feedback.inner_text().startswith(TEXT[lang]["correct"]) and "0.242" in feedback.inner_text()
    tab.assert_clean()


def test_choice_quiz_in_spanish(visit, book_url):
    tab = visit()
    page = tab.open(f"{book_url}/es/chapters/softmax-cross-entropy.html")
    quiz = page.locator("form.gc-quiz[data-quiz='q-softmax-grad']")
    feedback = quiz.locator(".gc-feedback")
    quiz.get_by_label("e_y - p").check()
    quiz.locator("button[type=submit]").press("Enter")
    assert feedback.get_attribute("data-status") == "wrong" and feedback.inner_text().startswith("Todavía no")
    quiz.get_by_label("p - e_y").check()
    quiz.locator("button[type=submit]").click()
    assert feedback.get_attribute("data-status") == "correct" and feedback.inner_text().startswith("Correcto")
    tab.assert_clean()


def _heatmap(page) -> list[str]:
    return page.locator(".gc-heatmap tbody td").all_inner_texts()


def test_jacobian_explorer_follows_the_sliders(visit, book_url):
    tab = visit()
    page = tab.open(f"{book_url}/en/chapters/softmax-cross-entropy.html")
    explorer = page.locator(".gc-jacobian")
    mount = page.locator(".gc-widget[data-module='jacobian']")
    start = json.loads(mount.get_attribute("data-model"))
    cells = explorer.locator(".gc-heatmap tbody td[data-i]")
    k = len(start["logits"])
    assert cells.count() == k * k
    # The browser's first matrix is the one Python computed for the chapter's logits.
    shown = [float(t) for t in cells.all_inner_texts()]
    assert shown == pytest.approx([v for row in start["jacobian"] for v in row], abs=6e-4)
    before = _heatmap(page)
    diag = explorer.locator("td[data-i='0'][data-j='0']")
    assert "gc-pos" in diag.get_attribute("class")
    assert "gc-neg" in explorer.locator("td[data-i='0'][data-j='1']").get_attribute("class")
    slider = explorer.locator("input[type=range][data-index='1']")
    slider.focus()
    for _ in range(10):
        page.keyboard.press("ArrowRight")
    assert slider.input_value() == "2"
    assert _heatmap(page) != before
    assert all(t == "0.000" for t in explorer.locator("td.gc-rowsum").all_inner_texts())
    # Temperature by filling the range input; K by choosing 3 classes.
    explorer.get_by_label("Temperature T").fill("3")
    assert float(diag.inner_text()) < float(before[0])
    explorer.get_by_label("Number of classes K").select_option("3")
    assert explorer.locator(".gc-heatmap tbody td[data-i]").count() == 9
    tab.assert_clean()


CONTRAST = """root => {
  const parse = (c) => { const m = c.match(/rgba?\\(([^)]+)\\)/); if (!m) return null;
    const [r, g, b, a = 1] = m[1].split(/[ ,\\/]+/).filter(Boolean).map(Number); return [r, g, b, a]; };
  const over = (top, bottom) => top.slice(0, 3).map((v, i) => v * top[3] + bottom[i] * (1 - top[3])).concat(1);
  const background = (el) => {
    const layers = [];
    for (let node = el; node; node = node.parentElement) {
      const c = parse(getComputedStyle(node).backgroundColor);
      if (c && c[3] > 0) { layers.push(c); if (c[3] >= 1) break; }
    }
    let result = [255, 255, 255, 1];
    for (const layer of layers.reverse()) result = over(layer, result);
    return result;
  };
  const lum = ([r, g, b]) => {
    const f = (v) => { v /= 255; return v <= 0.03928 ? v / 12.92 : ((v + 0.055) / 1.055) ** 2.4; };
    return 0.2126 * f(r) + 0.7152 * f(g) + 0.0722 * f(b); };
  const worst = { ratio: Infinity };
  for (const el of root.querySelectorAll("*")) {
    const own = [...el.childNodes].some((n) => n.nodeType === 3 && n.textContent.trim());
    if (!own || !el.getClientRects().length) continue;
    const bg = background(el);
    const fg = over(parse(getComputedStyle(el).color), bg);
    const [a, b] = [lum(fg), lum(bg)].sort((x, y) => y - x);
    const ratio = (a + 0.05) / (b + 0.05);
    if (ratio < worst.ratio) {
      Object.assign(worst, { ratio, text: el.textContent.slice(0, 40), color: getComputedStyle(el).color });
    }
  }
  return worst;
}"""


@pytest.mark.parametrize(
    ("lang", "chapter", "selector"),
    [("es", "scalars-to-tensors", ".gc-picker"), ("en", "softmax-cross-entropy", ".gc-jacobian"),
     ("es", "softmax-cross-entropy", ".gc-quiz")],
)
def test_dark_mode_on_a_phone_is_legible(visit, book_url, lang, chapter, selector):
    tab = visit(color_scheme="dark", viewport={"width": 390, "height": 844}, device_scale_factor=1)
    page = tab.open(f"{book_url}/{lang}/chapters/{chapter}.html")
    page.wait_for_function("document.documentElement.dataset.theme === 'dark'")
    widget = page.locator(selector).first
    if selector == ".gc-picker":
        widget.locator("input[data-axis='1']").check()  # show the mismatch feedback too
    if selector == ".gc-quiz":
        widget = widget.locator("xpath=..")  # with its question
    widget.scroll_into_view_if_needed()
    SHOTS.mkdir(parents=True, exist_ok=True)
    shot = SHOTS / f"{chapter}-{selector.strip('.')}-{lang}-dark.png"
    widget.screenshot(path=str(shot))
    assert shot.stat().st_size > 1000
    for root in page.locator(".gc-widget-root").all():
        worst = root.evaluate(CONTRAST)
        assert worst["ratio"] >= 4.5, f"{chapter}: low contrast {worst}"
    assert page.evaluate("document.documentElement.scrollWidth") <= 390, "the page scrolls sideways on a phone"
    for wrap in page.locator(".gc-heatmap-wrap").all():
        assert wrap.evaluate("w => w.scrollWidth <= w.clientWidth"), "the heatmap and its row sums do not fit"
    box = widget.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= 390
    tab.assert_clean()
