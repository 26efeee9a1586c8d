"""Both books build with warnings as errors, each in its own language, with nothing fetched from the internet."""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import pytest

from gradcourse.book.build import BuildError, build
from gradcourse.book.mirror import pages

ROOT = Path(__file__).resolve().parents[1]
HEADER = (ROOT / "book" / "en" / "index.md").read_text().split("---\n", 2)[1]
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


def test_spanish_book_uses_spanish_theme_text_and_search(built_book):
    html = (built_book / "es" / "index.html").read_text(encoding="utf8")
    assert "Buscar" in html
    index = (built_book / "es" / "searchindex.js").read_text(encoding="utf8")
    assert '"language"' not in index or "es" in index
    assert "searchindex" in (built_book / "es" / "search.html").read_text(encoding="utf8")


def test_landing_page_offers_both_languages(built_book):
    html = (built_book / "index.html").read_text(encoding="utf8")
    assert 'href="en/index.html"' in html and 'href="es/index.html"' in html


def mini_course(tmp_path: Path, body_en: str, body_es: str) -> Path:
    """A one-page course using the real configuration and extension, to prove what makes a build fail."""
    course = tmp_path / "course"
    for lang, body in (("en", body_en), ("es", body_es)):
        (course / "book" / lang).mkdir(parents=True)
        (course / "book" / lang / "index.md").write_text(f"---\n{HEADER}---\n\n{body}", encoding="utf8")
    shutil.copy(ROOT / "_config.yml", course)
    (course / "_toc.yml").write_text("format: jb-article\nroot: index\n")
    (course / "node_modules").symlink_to(ROOT / "node_modules")
    return course


CELL = "```{code-cell} ipython3\n:tags: [remove-cell]\nassert %s\n```\n"


def test_a_wrong_worked_number_fails_the_build(tmp_path):
    body = "# Title\n\nThe answer is 5.\n\n" + CELL % "2 + 2 == 5"
    with pytest.raises(BuildError, match="en"):
        build(mini_course(tmp_path, body, body.replace("The answer is", "La respuesta es")))


def test_a_warning_fails_the_build(tmp_path):
    body = "# Title\n\nSee {ref}`no-such-label`.\n"
    with pytest.raises(BuildError):
        build(mini_course(tmp_path, body, body))


def test_the_mini_course_builds_when_nothing_is_wrong(tmp_path):
    body = "# Title\n\nThe answer is 4.\n\n" + CELL % "2 + 2 == 4"
    landing = build(mini_course(tmp_path, body, body))
    assert (landing.parent / "es" / "index.html").exists()
