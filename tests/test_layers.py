"""The package's layers: every import inside gradcourse runs downward (or sideways where listed below).

    gradcourse.lang                     the two languages, `tr`, a notebook's language
    gradcourse.grading                  checks, references, finite differences, draws, pitfalls, the graded cell
    gradcourse.scoring                  grading inside nbgrader: sandbox, learner process, inert notebooks
    authoring, instructor, book, widgets, validate      what people run: on top

A module may import its own package and anything in a lower layer. Top-level packages are peers, and only the
edges in SIDEWAYS are allowed between them, so that no two of them depend on each other.
"""
import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "gradcourse"
LAYER = {"lang": 0, "grading": 1, "scoring": 2,
         "authoring": 3, "instructor": 3, "book": 3, "widgets": 3, "validate": 3}
SIDEWAYS = {("authoring", "book"),        # the lab generator reads prose spans the way the book's mirror test does
            ("instructor", "authoring")}  # `generate` and `release` are instructor commands over the generator


def part_of(dotted: str) -> str | None:
    parts = dotted.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "gradcourse" else None


def imports(path: Path) -> list[tuple[int, str]]:
    """(line, absolute module) of every gradcourse import in ``path``, at any depth (imports inside functions
    count: they are dependencies all the same)."""
    module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
    package = module.rsplit(".", 1)[0] if path.name != "__init__.py" else module.removesuffix(".__init__")
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            names = [f"{target}.{a.name}" for a in node.names] if not node.module else [target]
            found += [(node.lineno, n) for n in names]
    return [(line, name) for line, name in found if name.startswith("gradcourse")]


MODULES = sorted(p for p in PACKAGE.rglob("*.py") if "static" not in p.parts)


def test_every_part_has_a_layer():
    parts = {part_of(".".join(p.relative_to(ROOT).with_suffix("").parts)) for p in MODULES}
    assert parts - {None, "__init__"} <= set(LAYER), parts - set(LAYER)


def violations(path: Path) -> list[str]:
    here = part_of(".".join(path.relative_to(ROOT).with_suffix("").parts))
    if here in (None, "__init__"):
        return []
    return [f"line {line}: {name}" for line, name in imports(path)
            if (there := part_of(name)) not in (None, here) and there in LAYER
            and LAYER[there] >= LAYER[here] and (here, there) not in SIDEWAYS]


@pytest.mark.parametrize("path", MODULES, ids=lambda p: str(p.relative_to(PACKAGE)))
def test_imports_run_downward(path):
    wrong = violations(path)
    assert not wrong, f"{path.relative_to(ROOT)} imports upward or sideways: {wrong}"


def test_the_checker_sees_an_upward_import(monkeypatch):
    sources = {PACKAGE / "grading" / "x.py": "from ..instructor import cli\n",
               PACKAGE / "scoring" / "y.py": "def f():\n    import gradcourse.book.build\n",
               PACKAGE / "book" / "z.py": "from gradcourse.instructor.cli import main\n",
               PACKAGE / "instructor" / "w.py": "from ..authoring import labgen\nfrom ..scoring import course\n"}
    real = Path.read_text
    monkeypatch.setattr(Path, "read_text", lambda self, **kw: sources.get(self) or real(self, **kw))
    assert [len(violations(p)) for p in sources] == [1, 1, 1, 0]
