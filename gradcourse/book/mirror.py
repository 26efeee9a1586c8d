"""The English and Spanish books are mirrors: same pages, same code cells, prose in its own language."""

from __future__ import annotations

import json
import re
from pathlib import Path

PAGE_SUFFIXES = (".md", ".ipynb")
# A MyST code cell: ```{code-cell} <lang> ... ``` with optional :option: lines and YAML front matter.
_CODE_CELL = re.compile(r"^(`{3,})\{code-cell\}[^\n]*\n(.*?)^\1[ \t]*$", re.M | re.S)


def pages(lang_dir: Path) -> set[str]:
    """Page paths relative to a language folder, e.g. ``chapters/chain-rule.md``."""
    return {
        p.relative_to(lang_dir).as_posix()
        for p in lang_dir.rglob("*")
        if p.suffix in PAGE_SUFFIXES and not any(part.startswith(("_", ".")) for part in p.parts)
    }


def unmatched_pages(book_dir: Path, langs: list[str]) -> dict[str, list[str]]:
    """For each language, the pages that some other language has and it lacks."""
    found = {lang: pages(book_dir / lang) for lang in langs}
    everything = set().union(*found.values())
    return {lang: sorted(everything - have) for lang, have in found.items() if everything - have}


def describe_unmatched(missing: dict[str, list[str]], book_dir: Path) -> str:
    lines = ["Every page must exist in every language; these twins are missing:"]
    for lang, names in missing.items():
        lines += [f"  {book_dir.name}/{lang}/{name}" for name in names]
    return "\n".join(lines)


def code_cells(text: str) -> list[str]:
    """The code cells of a MyST notebook page, each with its options block, in order."""
    return [m.group(0) for m in _CODE_CELL.finditer(text)]


def replace_code_cells(text: str, cells: list[str]) -> str:
    """``text`` with its code cells replaced, in order, by ``cells``."""
    found = code_cells(text)
    if len(found) != len(cells):
        raise ValueError(f"the page has {len(found)} code cells, the source has {len(cells)}")
    it = iter(cells)
    return _CODE_CELL.sub(lambda _m: next(it), text)


def page_code_cells(page: Path) -> list[str]:
    """The code cells of a page, whether a MyST notebook (.md) or a Jupyter notebook (.ipynb)."""
    text = page.read_text(encoding="utf8")
    if page.suffix == ".ipynb":
        cells = json.loads(text)["cells"]
        return ["".join(c["source"]) if isinstance(c["source"], list) else c["source"]
                for c in cells if c["cell_type"] == "code"]
    return code_cells(text)


def code_differences(a: Path, b: Path) -> list[str]:
    """Human-readable differences between the code cells of two twin pages (empty when they match)."""
    ca, cb = page_code_cells(a), page_code_cells(b)
    if len(ca) != len(cb):
        return [f"{a} has {len(ca)} code cells, {b} has {len(cb)}"]
    return [
        f"code cell {i + 1} differs between {a} and {b}:\n{x}\n---\n{y}"
        for i, (x, y) in enumerate(zip(ca, cb))
        if x != y
    ]
