"""Both books build with warnings as errors, each in its own language, with nothing fetched from the internet."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from gradcourse.book.build import BuildError, build
from gradcourse.book.mirror import pages

ROOT = Path(__file__).resolve().parents[1]
EXTERNAL = re.compile(r"""<(?:script|link|img|iframe)\b[^>]*\b(?:src|href)=["'](?:https?:)?//""", re.I)


def html_pages(site: Path, lang: str) -> list[Path]:
    return [site / lang / (Path(p).with_suffix(".html")) for p in sorted(pages(ROOT / "book" / lang))]


@pytest.mark.parametrize("lang", ["en", "es"])
def test_every_page_is_built_in_its_language_with_a_switcher_to_its_twin(built_book, lang):
    other = "es" if lang == "en" else "en"
    for page in html_pages(built_book, lang):
        html = page.read_text(encoding="utf8")
        assert f'<html lang="{lang}"' in html, page
        rel = page.relative_to(built_book / lang).as_posix()
        up = "../" * rel.count("/") + "../"
        assert f'href="{up}{other}/{rel}" hreflang="{other}"' in html, f"{page}: no switcher link to its twin"
        assert (built_book / other / rel).exists()


@pytest.mark.parametrize("lang", ["en", "es"])
def test_pages_load_nothing_from_the_internet(built_book, lang):
    for page in html_pages(built_book, lang):
        html = page.read_text(encoding="utf8")
        assert not EXTERNAL.findall(html), f"{page} loads {EXTERNAL.findall(html)}"
    assert (built_book / lang / "_static" / "mathjax" / "tex-chtml.js").exists()
    assert (built_book / lang / "_static" / "require.js").exists()
    assert (built_book / lang / "_static" / "embed-amd.js").exists()


LABELS = re.compile(r'(?:title|aria-label|placeholder)="([^"]+)"')
# The one English label the theme hard-codes in its print-only layout, where no reader sees it.
UNTRANSLATABLE = {"Page"}


def test_spanish_pages_have_spanish_theme_text_and_search(built_book):
    for en_page, es_page in zip(html_pages(built_book, "en"), html_pages(built_book, "es")):
        en_labels = set(LABELS.findall(en_page.read_text(encoding="utf8")))
        es_labels = set(LABELS.findall(es_page.read_text(encoding="utf8")))
        assert en_labels & es_labels <= UNTRANSLATABLE, f"{es_page}: English theme text {en_labels & es_labels}"
    html = (built_book / "es" / "index.html").read_text(encoding="utf8")
    assert "Buscar en el libro" in html and "Descargar" in html and "siguiente" in html
    assert "SpanishStemmer" in (built_book / "es" / "_static" / "language_data.js").read_text(encoding="utf8")
    assert "SpanishStemmer" not in (built_book / "en" / "_static" / "language_data.js").read_text(encoding="utf8")


def test_landing_page_offers_both_languages(built_book):
    html = (built_book / "index.html").read_text(encoding="utf8")
    assert 'href="en/index.html"' in html and 'href="es/index.html"' in html


CELL = "```{code-cell} ipython3\n:tags: [remove-cell]\nassert %s\n```\n"


def test_a_wrong_worked_number_fails_the_build_and_says_which(make_course, capfd):
    body = "# Title\n\nThe answer is 5.\n\n" + CELL % "2 + 2 == 5, 'the worked answer'"
    with pytest.raises(BuildError, match="en"):
        build(make_course(body, body.replace("The answer is", "La respuesta es")))
    assert "the worked answer" in capfd.readouterr().err


def test_a_warning_fails_the_build(make_course):
    body = "# Title\n\nSee {ref}`no-such-label`.\n"
    with pytest.raises(BuildError):
        build(make_course(body, body))


def test_the_mini_course_builds_when_nothing_is_wrong(make_course):
    body = "# Title\n\nThe answer is 4.\n\n" + CELL % "2 + 2 == 4"
    landing = build(make_course(body, body))
    assert (landing.parent / "es" / "index.html").exists()


OUTPUT_HEX = re.compile(r"cell_output.*?<pre>(?:<span></span>)?([0-9a-f]{32})", re.S)


def test_editing_one_page_re_executes_only_that_page(make_course):
    stamp = "```{code-cell} ipython3\nimport uuid\nprint(uuid.uuid4().hex)\n```\n"
    course = make_course("# Start\n", "# Inicio\n", extra={"a": "# A\n\n" + stamp, "b": "# B\n\n" + stamp})
    site = build(course).parent

    def stamps() -> dict[str, str]:
        return {p: OUTPUT_HEX.search((site / "en" / f"{p}.html").read_text()).group(1) for p in "ab"}

    first = stamps()
    assert OUTPUT_HEX.search((site / "es" / "a.html").read_text()).group(1) == first["a"], "ES should reuse EN's run"
    for lang in ("en", "es"):
        page = course / "book" / lang / "a.md"
        page.write_text(page.read_text().replace("print(uuid", "x = 1\nprint(uuid"))
    build(course)
    second = stamps()
    assert second["a"] != first["a"], "the edited page was not executed again"
    assert second["b"] == first["b"], "an untouched page was executed again"
