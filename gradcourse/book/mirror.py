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
    """Human-readable differences between the code cells of two twin pages (empty when they match). Chapters (.md)
    must match byte for byte; in lab notebooks (.ipynb) docstrings and comments may differ, nothing else."""
    ca, cb = page_code_cells(a), page_code_cells(b)
    if a.suffix == ".ipynb" and b.suffix == ".ipynb":  # a lab: docstrings and comments are in its language
        ca, cb = [code_without_prose(c) for c in ca], [code_without_prose(c) for c in cb]
    if len(ca) != len(cb):
        return [f"{a} has {len(ca)} code cells, {b} has {len(cb)}"]
    return [
        f"code cell {i + 1} differs between {a} and {b}:\n{x}\n---\n{y}"
        for i, (x, y) in enumerate(zip(ca, cb))
        if x != y
    ]


# --------------------------------------------------------------------------- code, its docstrings and comments aside

def prose_spans(source: str) -> list[tuple[int, int, str]]:
    """(start, end, kind) character offsets of the docstrings ("doc", the whole string literal) and comments
    ("comment", from ``#`` to the end of the line) of Python ``source``: the parts of a lab's code written in the
    notebook's language. Raises SyntaxError (or tokenize.TokenError) on code that is not plain Python."""
    import ast
    import io
    import tokenize

    lines = source.splitlines(keepends=True)
    starts = [0]
    for line in lines:
        starts.append(starts[-1] + len(line))

    def offset(row: int, col: int) -> int:  # tokenize counts characters
        return starts[row - 1] + col

    docs = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and node.body:
            first = node.body[0]
            if (isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant)
                    and isinstance(first.value.value, str)):
                row, col = first.value.lineno, first.value.col_offset  # ast counts UTF-8 bytes
                docs.add((row, len(lines[row - 1].encode("utf8")[:col].decode("utf8", "replace"))))
    spans = []
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT:
            spans.append((offset(*tok.start), offset(*tok.end), "comment"))
        elif tok.type == tokenize.STRING and tok.start in docs:
            spans.append((offset(*tok.start), offset(*tok.end), "doc"))
    return spans


def code_without_prose(source: str) -> str:
    """``source`` with every docstring replaced by ``""""""`` and every comment by ``#``: what must be byte for byte
    the same in both languages of a lab (its docstrings and comments are in the notebook's language). Code that is
    not plain Python is returned unchanged."""
    try:
        spans = prose_spans(source)
    except Exception:  # noqa: BLE001 - SyntaxError, tokenize.TokenError: IPython magics, not plain Python
        return source
    out, at = [], 0
    for start, end, kind in spans:
        out += [source[at:start], '""""""' if kind == "doc" else "#"]
        at = end
    return "".join(out) + source[at:]
