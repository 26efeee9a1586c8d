"""The two books are mirrors: same pages, identical code cells. And the checkers do catch a broken mirror."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from gradcourse.book.build import BuildError, build
from gradcourse.book.mirror import code_cells, code_differences, pages, replace_code_cells, unmatched_pages
from worktree import writing_or_copying

ROOT = Path(__file__).resolve().parents[1]
BOOK = ROOT / "book"


def test_same_pages_in_both_languages():
    assert unmatched_pages(BOOK, ["en", "es"]) == {}
    assert "index.md" in pages(BOOK / "en")


@pytest.mark.parametrize("page", sorted(pages(BOOK / "en")))
def test_code_cells_identical_to_twin(page):
    assert code_differences(BOOK / "en" / page, BOOK / "es" / page) == []


def test_every_toc_entry_exists_in_both_languages():
    import yaml

    toc = yaml.safe_load((ROOT / "_toc.yml").read_text())
    names = [toc["root"], *(c["file"] for c in toc.get("chapters", []))]
    for lang in ("en", "es"):
        for name in names:
            assert (BOOK / lang / f"{name}.md").exists(), f"book/{lang}/{name}.md is in _toc.yml but missing"


CELL = "```{code-cell} ipython3\n:tags: [remove-cell]\nassert 1 + 1 == 2\n```\n"


def test_code_cell_parser_sees_options_and_nested_fences(tmp_path):
    text = f"# A\n\nprose\n\n{CELL}\nmore prose\n\n````{{code-cell}} ipython3\nprint('```')\n````\n"
    cells = code_cells(text)
    assert len(cells) == 2 and ":tags: [remove-cell]" in cells[0] and "print('```')" in cells[1]


def test_notebook_pages_are_compared_by_their_code_cells(tmp_path):
    import nbformat

    def notebook(text: str, code: str):
        nb = nbformat.v4.new_notebook(cells=[nbformat.v4.new_markdown_cell(text), nbformat.v4.new_code_cell(code)])
        return nbformat.writes(nb)

    en, es, bad = tmp_path / "en.ipynb", tmp_path / "es.ipynb", tmp_path / "bad.ipynb"
    en.write_text(notebook("# Lab", "x = 1"))
    es.write_text(notebook("# Laboratorio", "x = 1"))
    bad.write_text(notebook("# Laboratorio", "x = 2"))
    assert code_differences(en, es) == [] and code_differences(en, bad) != []


def test_a_changed_code_cell_is_reported(tmp_path):
    en, es = tmp_path / "en.md", tmp_path / "es.md"
    en.write_text(f"# English\n\n{CELL}")
    es.write_text(f"# Español\n\n{CELL.replace('2', '3')}")
    (diff,) = code_differences(en, es)
    assert "code cell 1 differs" in diff


def test_prose_may_differ_code_may_not(tmp_path):
    en, es = tmp_path / "en.md", tmp_path / "es.md"
    en.write_text(f"# English prose\n\n{CELL}")
    es.write_text(f"# Prosa en español, más larga\n\nOtro párrafo.\n\n{CELL}")
    assert code_differences(en, es) == []


def test_sync_code_copies_cells_and_keeps_prose():
    es = f"# Español\n\n{CELL.replace('2', '3')}\nfin\n"
    synced = replace_code_cells(es, code_cells(f"# English\n\n{CELL}"))
    assert synced == f"# Español\n\n{CELL}\nfin\n"
    with pytest.raises(ValueError):
        replace_code_cells(es, [])


def test_build_refuses_a_page_missing_in_one_language(tmp_path):
    copy = tmp_path / "course"
    with writing_or_copying():
        shutil.copytree(ROOT, copy, ignore=shutil.ignore_patterns("_build", ".venv", "node_modules", ".git",
                                                                 "__pycache__", ".hypothesis", ".*_cache"))
    (copy / "book" / "en" / "orphan.md").write_text("# Only in English\n")
    with pytest.raises(BuildError, match=r"book/es/orphan\.md"):
        build(copy)
