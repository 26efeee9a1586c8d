"""One English and one Spanish feedback page in Debian's chromium, with every request outside the page's own folder
refused: the math is typeset (the course's text and the learner's answer), nothing runs, nothing is fetched, and
the labels are in the page's language. The pages are lab 00's, made by the real nbgrader commands
(tests/feedback_pages.py)."""

from __future__ import annotations

import pytest

import feedback_pages
from conftest import serve

# Text a page shows when its math is left for a MathJax it cannot run.
RAW_TEX = r"/\$|\\(frac|partial|operatorname|top|sum|begin|delta)\b/"
LABELS = {"en": {"header": "Score", "answer": "Student's answer", "comments": "Comments"},
          "es": {"header": "Puntuación", "answer": "Tu respuesta", "comments": "Comentarios"}}


@pytest.fixture(scope="module", params=["en", "es"])
def feedback(request, tmp_path_factory):
    return feedback_pages.build(request.param, tmp_path_factory)


class FolderTab:
    """A tab that lets through only requests for files in one folder of a local server, and records the rest and
    every console message (a refused script or style would be one)."""

    def __init__(self, browser, folder_url: str):
        self.folder = folder_url
        self.context = browser.new_context(viewport={"width": 390, "height": 844})   # a phone
        self.blocked, self.messages, self.requested = [], [], []
        self.context.route("**/*", self._route)
        self.page = self.context.new_page()
        self.page.on("console", lambda m: self.messages.append(f"{m.type}: {m.text}"))
        self.page.on("request", lambda r: self.requested.append(r.url))

    def _route(self, route):
        if route.request.url.startswith(self.folder):
            route.continue_()
        else:
            self.blocked.append(route.request.url)
            route.abort()


@pytest.fixture
def tab_for(browser):
    opened = []

    def make(folder_url):
        opened.append(FolderTab(browser, folder_url))
        return opened[-1]

    yield make
    for tab in opened:
        tab.context.close()


def test_the_route_refuses_what_is_outside_the_folder(tab_for, feedback):
    """The tab's filter works: a page of the same server, one folder up, is refused (so an empty list means the
    feedback page asked for nothing outside its folder, not that nothing was watched)."""
    with serve(feedback.course / "feedback") as url:
        tab = tab_for(f"{url}/{feedback_pages.STUDENT}/{feedback.assignment}/")
        with pytest.raises(pytest.importorskip("playwright.sync_api").Error):    # the navigation was aborted
            tab.page.goto(f"{url}/{feedback_pages.STUDENT}/")
        assert tab.blocked == [f"{url}/{feedback_pages.STUDENT}/"]


def test_math_is_typeset_nothing_runs_and_labels_speak_the_pages_language(tab_for, feedback):
    lang = feedback.lang
    with serve(feedback.course / "feedback") as url:
        folder = f"{url}/{feedback_pages.STUDENT}/{feedback.assignment}/"
        tab = tab_for(folder)
        tab.page.goto(folder + "lab00.html")
        tab.page.wait_for_load_state("load")
        page = tab.page
        assert tab.blocked == [] and tab.requested == [folder + "lab00.html"]
        assert tab.messages == []                      # no refused script, style or font
        assert page.evaluate("document.scripts.length") == 0
        assert page.evaluate("document.querySelectorAll('[onload], [onerror], [onclick], iframe, object, embed')"
                             ".length") == 0
        # the course's text: every formula typeset, none left as TeX, each drawn with a size
        formulas = page.locator(".text_cell_render mjx-container > svg")
        assert formulas.count() >= 20
        sizes = formulas.evaluate_all("svgs => svgs.map(s => s.getBoundingClientRect()).map(r => [r.width, r.height])")
        assert all(w > 0 and h > 0 for w, h in sizes), sizes
        raw = page.evaluate(f"""() => [...document.querySelectorAll('.text_cell_render')].map(cell => {{
            const copy = cell.cloneNode(true);
            copy.querySelectorAll('mjx-container, .gc-tex').forEach(e => e.remove());
            return copy.textContent; }}).filter(text => {RAW_TEX}.test(text))""")
        assert raw == []
        # the learner's written answer: typeset too, but for the formula whose braces do not close, shown as TeX
        answer = page.locator(".nbgrader_cell", has_text=LABELS[lang]["answer"]).filter(
            has=page.locator("mjx-container"))
        assert answer.count() == 1
        assert answer.locator("mjx-container").count() == 4
        assert answer.locator("mjx-container[display=true]").count() == 1
        assert answer.locator(".gc-tex").all_inner_texts() == [f"${feedback_pages.BROKEN_TEX}$"]
        assert page.evaluate("[...document.querySelectorAll('[href]')].filter(e => /^\\s*javascript:/i"
                             ".test(e.getAttribute('href'))).length") == 0
        # the labels around it, in the page's language; a phone's width is enough
        assert page.get_attribute("html", "lang") == lang
        assert LABELS[lang]["header"] in page.inner_text("h4")
        assert f"{LABELS[lang]['comments']}:" in page.inner_text("body")
        assert page.evaluate("document.documentElement.scrollWidth") <= 390 + 1
