"""A rebuild runs Sphinx only for the languages whose inputs changed, and never leaves a stale page behind.

The builds run in a subprocess from a copy of the course that holds its own copy of ``gradcourse``, so that the
test can edit the course's shared code (a widget's JavaScript) without touching the repository.
"""

from __future__ import annotations

import re
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

from conftest import mini_course

from gradcourse.book import fingerprint

ROOT = Path(__file__).resolve().parents[1]


def build(course: Path, ok: bool = True) -> tuple[set[str], set[str]]:
    """Run the course's build command; return the languages it built and those it found up to date."""
    done = subprocess.run([sys.executable, "-m", "gradcourse.book", "build"], cwd=course, capture_output=True,
                          text=True)
    assert (done.returncode == 0) == ok, done.stdout + done.stderr
    return set(re.findall(r"== building book/(\w+) ", done.stdout)), \
        set(re.findall(r"== book/(\w+) \(\w+\) is up to date", done.stdout))


def written(site: Path, lang: str) -> dict[str, int]:
    """When each file of a language's site was last written."""
    return {p.relative_to(site).as_posix(): p.stat().st_mtime_ns for p in (site / lang).rglob("*") if p.is_file()}


def stylesheet(page: Path) -> Path:
    """The one stylesheet a page links to (gradcourse.book.cssbundle), named after its content."""
    return page.parent / re.search(r'<link rel="stylesheet" href="([^"]+)"', page.read_text(encoding="utf8")).group(1)


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text(encoding="utf8")
    assert old in text, f"{old!r} is not in {path}"
    path.write_text(text.replace(old, new, 1), encoding="utf8")


def test_a_rebuild_builds_exactly_the_languages_whose_inputs_changed(tmp_path):
    course = mini_course(tmp_path, "# Start\n\nFirst words.\n", "# Inicio\n\nPrimeras palabras.\n",
                         extra={"more": "# More\n\nA page no edit below touches.\n"})
    shutil.copytree(ROOT / "gradcourse", course / "gradcourse", ignore=shutil.ignore_patterns("__pycache__"))
    site = course / "_build" / "html"
    assert build(course) == ({"en", "es"}, set())

    before = {lang: written(site, lang) for lang in ("en", "es")}
    assert build(course) == (set(), {"en", "es"})
    assert {lang: written(site, lang) for lang in ("en", "es")} == before, "a no-op build rewrote files"

    edit(course / "book" / "es" / "index.md", "Primeras palabras.", "Palabras nuevas.")
    assert build(course) == ({"es"}, {"en"})
    assert "Palabras nuevas." in (site / "es" / "index.html").read_text(encoding="utf8")
    assert written(site, "en") == before["en"]

    # A page that fails leaves no claim that the HTML is current: once fixed, it is built again.
    edit(course / "book" / "es" / "index.md", "Palabras nuevas.", "Texto roto {ref}`no-such-label`.")
    build(course, ok=False)
    edit(course / "book" / "es" / "index.md", "Texto roto {ref}`no-such-label`.", "Palabras nuevas.")
    assert build(course) == ({"es"}, {"en"})
    assert "Texto roto" not in (site / "es" / "index.html").read_text(encoding="utf8")

    # Shared code changed: every page is written again, so none links to its stylesheet by the old name, which a
    # reader's browser would answer from its cache with the old file.
    linked = {lang: stylesheet(site / lang / "more.html") for lang in ("en", "es")}
    loader = course / "gradcourse" / "widgets" / "static" / "widgets" / "loader.js"
    loader.write_text(loader.read_text(encoding="utf8") + "\n// edited by the test\n", encoding="utf8")
    sheet = course / "gradcourse" / "book" / "static" / "course.css"
    sheet.write_text(sheet.read_text(encoding="utf8") + "\n/* edited by the test */\n", encoding="utf8")
    assert build(course) == ({"en", "es"}, set())
    for lang in ("en", "es"):
        assert "// edited by the test" in (site / lang / "_static" / "widgets" / "loader.js").read_text()
        assert b"edited by the test" in (site / lang / "_static" / "course.css").read_bytes()
        now = stylesheet(site / lang / "more.html")
        assert now.name != linked[lang].name and "edited by the test" in now.read_text(encoding="utf8")
        assert not linked[lang].exists(), "the old bundle, linked by no page, was left behind"

    edit(course / "_config.yml", 'copyright: "2026"', 'copyright: "2031"')
    assert build(course) == ({"en", "es"}, set())
    for lang in ("en", "es"):
        assert "2031" in (site / lang / "index.html").read_text(encoding="utf8")

    # Whatever happens to the output, a missing page is built again rather than trusted to the stamp.
    (site / "en" / "index.html").unlink()
    assert build(course) == ({"en"}, {"es"})
    assert "First words." in (site / "en" / "index.html").read_text(encoding="utf8")


def test_a_new_or_unreadable_execution_cache_is_never_current(tmp_path):
    (tmp_path / "book" / "en").mkdir(parents=True)
    cache, html, stamp = tmp_path / "cache", tmp_path / "html", tmp_path / "stamp.json"
    (cache).mkdir()
    html.mkdir()
    (html / "index.html").write_text("page")
    db = sqlite3.connect(cache / "global.db")
    db.execute("CREATE TABLE nbcache (pk INTEGER, hashkey TEXT, created TEXT)")
    db.commit()

    def inputs() -> dict:
        return fingerprint.inputs(tmp_path, "en", tmp_path / "_toc.yml", cache, {})

    empty = inputs()
    fingerprint.record(stamp, empty, empty, html)
    assert fingerprint.is_current(stamp, inputs(), html)
    db.execute("INSERT INTO nbcache VALUES (1, 'abc', '2026-01-01')")
    db.commit()
    now = inputs()
    assert now["sources"] == empty["sources"] and now["cache"] != empty["cache"]
    assert not fingerprint.is_current(stamp, now, html)
    db.execute("DROP TABLE nbcache")
    db.commit()
    assert inputs()["cache"] is None and not fingerprint.is_current(stamp, inputs(), html)
