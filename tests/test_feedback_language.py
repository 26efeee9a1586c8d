"""The feedback page speaks the notebook's language: lab 00, solved, released, autograded and fed back by the real
nbgrader commands with the course's config, in English and in Spanish. The Spanish page has every label of
nbgrader's feedback template in Spanish and none of the English ones; both pages wrap long output lines, fit a
phone and keep the Content-Security-Policy first in <head>."""

from __future__ import annotations

import re
from html.parser import HTMLParser

import pytest

import feedback_pages

CSP = ("default-src 'none'; script-src 'none'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
       "font-src 'self' data:; base-uri 'none'; form-action 'none'")

# What nbgrader's feedback template (and the classic one under it) prints around the notebook, per language.
LABELS = {
    "en": ["(Score: ", "Score: ", "(Top)", "Test cell", "Written response", "Student's answer", "Grade cell: ",
           "Comments:", "In\xa0[", "· Feedback</title>"],
    "es": ["(Puntuación: ", "Puntuación: ", "(Volver arriba)", "Celda calificada", "Respuesta escrita",
           "Tu respuesta", "Celda calificada: ", "Comentarios:", "Entrada\xa0[", "· Informe de corrección</title>"],
}
# Every English label the template can print, including those lab 00 does not bring out (a task, a late
# submission, an execute result, a free-response code cell).
ENGLISH = ["Score", "(Top)", "Test cell", "Coding free-response", "Written response", ">Task<", "Comment",
           "Late submission penalty", "Student's answer", "Student's task", "Grade cell", "Task: ", "In\xa0[",
           "Out[", "Feedback"]
WRAP = re.compile(r"white-space:\s*pre-wrap;\s*overflow-wrap:\s*anywhere;")


@pytest.fixture(scope="module", params=["en", "es"])
def feedback(request, tmp_path_factory):
    """(language, feedback page, autograded notebook) of the solved lab 00 (tests/feedback_pages.py)."""
    made = feedback_pages.build(request.param, tmp_path_factory)
    return made.lang, made.page, made.graded


class Head(HTMLParser):
    """The <html> tag's attributes, the elements of <head> in order, and the text of its <style> blocks."""

    def __init__(self):
        super().__init__()
        self.html, self.head, self.styles, self.where = {}, [], [], None

    def handle_starttag(self, tag, attrs):
        if tag == "html":
            self.html = dict(attrs)
        elif tag == "head":
            self.where = "head"
        elif tag == "body":
            self.where = "body"
        elif self.where == "head":
            self.head.append((tag, dict(attrs)))

    def handle_endtag(self, tag):
        if tag == "head":
            self.where = None

    def handle_data(self, data):
        if self.where == "head" and self.head and self.head[-1][0] == "style":
            self.styles.append(data)


def head(page: str) -> Head:
    parser = Head()
    parser.feed(page)
    return parser


def test_the_notebook_says_its_language(feedback):
    lang, _, graded = feedback
    assert graded.metadata.gradcourse.lang == lang


def test_every_label_is_in_the_notebooks_language(feedback):
    lang, page, _ = feedback
    page = re.sub(r"<style.*?</style>", "", page, flags=re.DOTALL)  # the code highlighter's CSS names "Comment"s
    assert [label for label in LABELS[lang] if label not in page] == []
    if lang == "es":
        assert [label for label in ENGLISH if label in page] == []
    else:
        assert [label for label in LABELS["es"] if label in page] == []


def test_the_score_in_the_header(feedback):
    lang, page, _ = feedback
    word = {"en": "Score", "es": "Puntuación"}[lang]
    assert re.search(rf"<h4>lab00 \({word}: \d+\.\d+ / \d+\.\d+\)</h4>", page), page[:3000]


def test_the_page_declares_its_language_and_keeps_the_policy_first(feedback):
    lang, page, _ = feedback
    parsed = head(page)
    assert parsed.html.get("lang") == lang
    assert parsed.head[0] == ("meta", {"http-equiv": "Content-Security-Policy", "content": CSP})
    assert ("meta", {"name": "viewport", "content": "width=device-width, initial-scale=1"}) in parsed.head


def test_long_output_lines_wrap_and_the_page_fits_a_phone(feedback):
    _, page, _ = feedback
    styles = "\n".join(head(page).styles)
    rules = {m.group(1).strip(): m.group(2) for m in re.finditer(r"([^{}]+)\{([^{}]*)\}", styles)}
    wrapping = [selector for selector, body in rules.items() if WRAP.search(body)]
    assert any("output_stream pre" in s and "output_error pre" in s for s in wrapping), wrapping
    assert any("max-width" in body for selector, body in rules.items() if "container" in selector)
    assert "@media (max-width: 767px)" in styles
    assert "x" * 3000 in page  # the long line is there, in a <pre> that wraps


def test_one_body(feedback):
    """nbgrader's own template opens a second <body> inside the first; the course's has one."""
    _, page, _ = feedback
    assert page.count("<body") == 1 and page.count("</body>") == 1
