"""Generate every notebook of a lab from its one source, ``grader/labsrc/<lab>.md``.

The source is a jupytext MyST notebook. Markdown cells carry ``{"lang": "en"}`` or ``{"lang": "es"}``
(cells without ``lang`` go to both languages); code cells are shared. Grading roles sit in the cell
metadata and become nbgrader metadata here:

* ``nb: readonly``                         locked code cell (setup, given helpers)
* ``nb: solution, grade_id: softmax``      the learner writes this cell (a stub with a contract)
* ``nb: test, check: softmax.batch``       a grade cell; its code and points come from the named check
* ``nb: manual, grade_id: ..., points: 2`` a written answer, graded by hand (markdown)
* ``es: {"English docstring or comment": "su traducción", ...}``
                                           the code is shared, its docstrings and comments are not: every one of
                                           them needs its Spanish text here (the generator refuses a missing one,
                                           or one that is not a docstring or comment of the cell)
* ``nb: example``                          a worked example that calls the learner's functions: wrapped in
                                           ``try`` so that, while one is a stub, it prints a one-line note instead
                                           of stopping "Run All" (``checks.unfinished``). A plain code cell that
                                           calls a stub must have this role.
* ``tags: [remove-cell]``                  book-only: an assert of the worked numbers. It is kept only in the
                                           solved notebook (which the tests run); learners and nbgrader never see
                                           it, and a lab's book page is its released notebook, not run.

Graded cells get the ``raises-exception`` tag: "Run All" (JupyterLab, nbclient) goes on past a failing graded cell,
so a half-finished lab shows every verdict; its error output still fails it for ``nbgrader validate``.

For each lab and language this writes, deterministically:

* ``grader/source/<lab>-<lang>/<lab>.ipynb``   nbgrader source (instructor version)
* ``grader/release/<lab>-<lang>/<lab>.ipynb``  made by ``nbgrader generate_assignment --no-db``
* ``labs/<lang>/<lab>.ipynb``                   the released notebook, for learners
* ``solutions/labs/<lang>/<lab>.ipynb``         solved notebook: no solution delimiters, no hidden tests

Every lab also gets, from here, what a learner needs when the course package is not installed in the
notebook's kernel: a short note above the first code cell saying how to install it, and that cell's leading
imports wrapped in ``try``/``except ImportError``, which prints the same instruction and re-raises. It prints it
in English and in Spanish: the code is shared by both languages, and finding out the notebook's language is the
course package's job (``context.notebook_language``). In the grading sandbox the course package is a stub, so
the imports succeed there and grading is unchanged.
"""
from __future__ import annotations

import ast
import copy
import hashlib
import json
import re
import shutil
import tempfile
from pathlib import Path

import nbformat

from ..book.mirror import prose_spans
from ..grading import gradecell
from ..grading.checks import CHECKS
from ..lang import LANGS
from ..scoring import course as nbgrader_course

REPO = Path(__file__).resolve().parents[2]
COURSE = "grader"
SCHEMA = 3


def labs(root=REPO):
    return sorted(p.stem for p in (Path(root) / COURSE / "labsrc").glob("lab*.md"))


def assignment(lab, lang):
    return f"{lab}-{lang}"


def grade_id(check_name):
    return "check-" + check_name.replace(".", "-").replace("_", "-")


def test_cell_source(check_name, stub, lang="en"):
    return gradecell.source(check_name, stub, CHECKS[check_name].title[lang], lang)


# What a lab says when the course package is not installed for its kernel (see guard_imports).
INSTALL_MESSAGE = """\
    print('This lab needs the course package: pip install "gradcourse[learner]" --find-links FOLDER '
          "(the folder with the course's wheel), then restart the kernel.")
    print('Este laboratorio necesita el paquete del curso: pip install "gradcourse[learner]" --find-links CARPETA '
          "(la carpeta con el archivo .whl del curso) y reinicia el núcleo.")"""
INSTALL_NOTE = {
    "en": "The next cell imports the course package. If it says the package is missing, install it into the Python\n"
          'environment of this notebook with `pip install "gradcourse[learner]" --find-links FOLDER` (FOLDER holds\n'
          'the course\'s wheel; in the course repository, `pip install -e ".[learner]"`) and restart the kernel.',
    "es": "La celda siguiente importa el paquete del curso. Si te dice que falta, instálalo en el entorno de Python\n"
          'de este cuaderno con `pip install "gradcourse[learner]" --find-links CARPETA` (CARPETA es donde está el\n'
          'archivo .whl del curso; en el repositorio del curso, `pip install -e ".[learner]"`) y reinicia el núcleo.',
}
_IMPORT_LINE = re.compile(r"^(import|from)\s+\S")


GUARD_COMMENT = {"en": "the course package, or a package it needs, is not installed here",
                 "es": "el paquete del curso, o uno que necesita, no está instalado aquí"}


def guard_imports(lab, source, lang="en"):
    """The first code cell with its leading imports inside ``try``: a missing package prints how to install the
    course (both languages) before the ImportError, instead of a bare traceback."""
    lines = source.split("\n")
    n = 0
    while n < len(lines) and _IMPORT_LINE.match(lines[n]):
        n += 1
    if not any(re.match(r"(import|from) gradcourse\b", ln) for ln in lines[:n]):
        raise ValueError(f"{lab}: the first code cell must start with its imports, the course package among them")
    return "\n".join(["try:", *("    " + ln for ln in lines[:n]),
                      f"except ImportError:  # {GUARD_COMMENT[lang]}",
                      INSTALL_MESSAGE, "    raise", *lines[n:]])


EXAMPLE_HANDLER = """\
except (NotImplementedError, NameError) as exc:
    if not unfinished(exc):
        raise"""
BOOK_ONLY = "remove-cell"
RAISES = "raises-exception"


def wrap_example(source):
    """An example cell inside ``try``: see :func:`gradcourse.grading.checks.unfinished`."""
    body = "\n".join(("    " + ln) if ln.strip() else "" for ln in source.split("\n"))
    return f"try:\n{body}\n{EXAMPLE_HANDLER}"


_MARKERS = re.compile(r"^#+\s*(BEGIN|END) (SOLUTION|HIDDEN TESTS)\s*$")


def _prose(kind, text):
    """The words of a docstring or comment token, as the ``es`` table of a cell names them."""
    if kind == "comment":
        return text.lstrip("#").strip()
    for quote in ('"""', "'''", '"', "'"):
        if text.startswith(quote) and text.endswith(quote) and len(text) >= 2 * len(quote):
            return text[len(quote):-len(quote)]
    raise ValueError(f"not a plain string literal: {text[:40]!r}")


def translate_code(lab, source, table, lang):
    """``source`` with its docstrings and comments in ``lang``: English as written, other languages from ``table``
    (English text to translation). Every docstring and comment must have its translation, and every translation
    must be a docstring or comment of this cell; nothing else of the code changes."""
    spans = [(a, b, kind, _prose(kind, source[a:b])) for a, b, kind in prose_spans(source)]
    spans = [s for s in spans if not (s[2] == "comment" and _MARKERS.match(source[s[0]:s[1]]))]
    texts = {text for *_, text in spans}
    unknown = sorted(set(table) - texts)
    if unknown:
        raise ValueError(f"{lab}: `es` translates {unknown}, not a docstring or comment of the cell")
    missing = sorted(texts - set(table))
    if missing:
        raise ValueError(f"{lab}: no Spanish text for {missing}: add it to the cell's `es` option")
    if lang == "en":
        return source
    out, at = [], 0
    for a, b, _kind, text in spans:
        out += [source[at:a], source[a:b].replace(text, table[text], 1)]
        at = b
    return "".join(out) + source[at:]


def _top_level_calls(source):
    """Names called by a cell's top-level code (not inside the functions, classes or lambdas it defines)."""
    names, todo = set(), list(ast.parse(source).body)
    while todo:
        node = todo.pop()
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)):
            continue
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            names.add(node.func.id)
        todo.extend(ast.iter_child_nodes(node))
    return names


def book_only(cell):
    return BOOK_ONLY in cell.metadata.get("tags", [])


def _nbgrader(**kw):
    meta = {"grade": False, "locked": False, "schema_version": SCHEMA, "solution": False}
    meta.update(kw)
    return meta


def read_source(lab, root=REPO):
    import jupytext
    return jupytext.read(Path(root) / COURSE / "labsrc" / f"{lab}.md")


def source_notebook(lab, lang, root=REPO, src=None):
    """The nbgrader source notebook of one language."""
    src = src or read_source(lab, root)
    stubs = {name for cell in src.cells if cell.cell_type == "code" and cell.metadata.get("nb") == "solution"
             for name in re.findall(r"^def (\w+)\(", cell.source, flags=re.M)}
    cells, n_code, n_md = [], 0, 0
    for cell in src.cells:
        if cell.cell_type == "code" and n_code == 0:
            cells.append(nbformat.v4.new_markdown_cell(INSTALL_NOTE[lang], id="install"))
        meta = dict(cell.metadata)
        cell_lang = meta.pop("lang", None)
        if cell_lang is not None and cell_lang not in LANGS:
            raise ValueError(f"{lab}: unknown lang {cell_lang!r}")
        if cell.cell_type == "markdown" and cell_lang not in (None, lang):
            continue
        if cell.cell_type == "code" and cell_lang is not None:
            raise ValueError(f"{lab}: code cells are shared; remove lang from {cell.source[:40]!r}")
        role = meta.pop("nb", None)
        table = meta.pop("es", {})
        out_meta = {k: v for k, v in meta.items() if k in ("tags",)}
        source = cell.source
        if table and cell.cell_type != "code":
            raise ValueError(f"{lab}: `es` translates the docstrings and comments of code cells only")
        if cell.cell_type == "code" and source.strip():
            source = translate_code(lab, source, table, lang)
        if cell.cell_type == "code" and n_code == 0:
            source = guard_imports(lab, source, lang)
        if BOOK_ONLY in out_meta.get("tags", []) and role is not None:
            raise ValueError(f"{lab}: a book-only ({BOOK_ONLY}) cell has no grading role: {cell.source[:40]!r}")
        if cell.cell_type == "code" and role is None and not book_only(cell):
            called = sorted(_top_level_calls(source) & stubs)
            if called:
                raise ValueError(f"{lab}: this cell calls {called}, still stubs for the learner: give it "
                                 f"`:nb: example` ({cell.source[:40]!r})")
        if role == "example":
            source = wrap_example(source)
        elif role == "readonly":
            out_meta["nbgrader"] = _nbgrader(locked=True, grade_id=meta["grade_id"])
        elif role == "solution":
            out_meta["nbgrader"] = _nbgrader(solution=True, grade_id=meta["grade_id"])
        elif role == "test":
            name = meta["check"]
            stub = CHECKS[name].stub
            if source.strip():
                raise ValueError(f"{lab}: test cell for {name} must be empty; it is generated")
            source = test_cell_source(name, stub, lang)
            out_meta["nbgrader"] = _nbgrader(grade=True, locked=True, grade_id=grade_id(name),
                                             points=CHECKS[name].points)
            out_meta["tags"] = [*out_meta.get("tags", []), RAISES]
        elif role == "manual":
            out_meta["nbgrader"] = _nbgrader(grade=True, solution=True, grade_id=meta["grade_id"],
                                             points=meta["points"])
        elif role is not None:
            raise ValueError(f"{lab}: unknown role {role!r}")
        if cell.cell_type == "code":
            n_code += 1
            new = nbformat.v4.new_code_cell(source, metadata=out_meta, id=f"code-{n_code:02d}")
        else:
            n_md += 1
            new = nbformat.v4.new_markdown_cell(source, metadata=out_meta, id=f"md-{n_md:02d}")
        cells.append(new)
    nb = nbformat.v4.new_notebook(cells=cells)
    nb.metadata = {
        "kernelspec": {"display_name": "Python 3", "language": "python", "name": "python3"},
        "language_info": {"name": "python"},
        "gradcourse": {"lab": lab, "lang": lang},
    }
    _check_stubs_tested(lab, nb)
    return nb


def without_book_only(nb):
    """The notebook learners and nbgrader get: no book-only cell."""
    nb = copy.deepcopy(nb)
    nb.cells = [c for c in nb.cells if not (c.cell_type == "code" and book_only(c))]
    return nb


def _check_stubs_tested(lab, nb):
    """Every solution cell defines a function whose every registered check has a grade cell."""
    tested = {c.metadata["nbgrader"]["grade_id"] for c in nb.cells
              if c.metadata.get("nbgrader", {}).get("grade") and c.cell_type == "code"}
    for cell in nb.cells:
        if cell.metadata.get("nbgrader", {}).get("solution") and cell.cell_type == "code":
            for stub in re.findall(r"^def (\w+)\(", cell.source, flags=re.M):
                missing = [c.name for c in CHECKS.values() if c.stub == stub and grade_id(c.name) not in tested]
                if missing:
                    raise ValueError(f"{lab}: no grade cell for {missing}")


_SOLUTION_LINE = re.compile(r"^[ \t]*### (BEGIN|END) SOLUTION[ \t]*\n?", re.M)
_HIDDEN = re.compile(r"^[ \t]*### BEGIN HIDDEN TESTS.*?### END HIDDEN TESTS[ \t]*\n?", re.M | re.S)


def solution_notebook(source_nb):
    """The solved notebook, from the source notebook with its book-only cells (they assert the worked numbers)."""
    nb = copy.deepcopy(source_nb)
    for cell in nb.cells:
        cell.source = _HIDDEN.sub("", _SOLUTION_LINE.sub("", cell.source)).rstrip("\n")
        cell.metadata.pop("nbgrader", None)
    return nb


def normalise(nb):
    """Drop what changes from run to run, so that generation is byte for byte reproducible."""
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
        cell.metadata.pop("execution", None)
        cell.metadata.pop("collapsed", None)
    return nb


def write(nb, path):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    text = nbformat.writes(normalise(nb), version=4)
    path.write_text(text + ("" if text.endswith("\n") else "\n"), encoding="utf-8")


def release_notebooks(course, notebooks):
    """Run the real ``nbgrader generate_assignment`` once over every source notebook, without a database.

    ``notebooks`` maps (lab, lang) to a source notebook; returns the same keys mapped to released notebooks."""
    with tempfile.TemporaryDirectory(prefix="labgen-") as tmp:
        tmp = Path(tmp)
        shutil.copy(Path(course) / nbgrader_course.CONFIG_FILE, tmp / nbgrader_course.CONFIG_FILE)
        for (lab, lang), nb in notebooks.items():
            write(nb, tmp / "source" / assignment(lab, lang) / f"{lab}.ipynb")
        done = nbgrader_course.run(tmp, "generate_assignment", "--no-db", "--force", "--log-level=ERROR",
                                   "--CourseDirectory.assignment_id=*")
        if done.returncode:
            raise RuntimeError(f"nbgrader generate_assignment failed:\n{done.stdout}")
        return {(lab, lang): nbformat.read(tmp / "release" / assignment(lab, lang) / f"{lab}.ipynb", as_version=4)
                for lab, lang in notebooks}


def book_page(released, inputs: str):
    """The released notebook as a page of the book: shown as it is (its stubs raise, so it is not run), with the
    theme's download button handing learners the very notebook they work in. It records the digest of what it was
    generated from (:func:`inputs_digest`), so that ``make book`` can tell a stale lab page."""
    page = nbformat.from_dict(json.loads(json.dumps(released)))
    page.metadata["mystnb"] = {"execution_mode": "off"}
    page.metadata.setdefault("gradcourse", {})["generated_from"] = inputs
    return page


def inputs_digest(lab, root=REPO) -> str:
    """A digest of everything a lab's generated files depend on: its source, the generator, the graded cells'
    format, the titles and points of the checks it names, and the course's nbgrader settings."""
    h = hashlib.sha256()
    source = Path(root) / COURSE / "labsrc" / f"{lab}.md"
    for path in (source, Path(root) / COURSE / nbgrader_course.CONFIG_FILE, Path(__file__), Path(gradecell.__file__)):
        h.update(path.read_bytes())
    for name in sorted(set(re.findall(r"^:check:\s*(\S+)", source.read_text(encoding="utf-8"), flags=re.M))):
        c = CHECKS.get(name)
        h.update(f"{name}|{c.points}|{c.title['en']}|{c.title['es']}\n".encode() if c else f"{name}|?\n".encode())
    return h.hexdigest()[:16]


def stale(root=REPO) -> list[str]:
    """The labs whose book page (or any language's) is missing or was generated from other inputs."""
    def recorded(page):
        try:
            return json.loads(page.read_text(encoding="utf-8"))["metadata"]["gradcourse"]["generated_from"]
        except (OSError, ValueError, KeyError, TypeError):
            return None
    return [lab for lab in labs(root)
            if any(recorded(Path(root) / "book" / lang / "labs" / f"{lab}.ipynb") != inputs_digest(lab, root)
                   for lang in LANGS)]


def generate(root=REPO, out=None, only=None):
    """Generate all labs (or ``only``) from ``root``'s sources into ``out`` (default: ``root``)."""
    root = Path(root)
    out = Path(out or root)
    sources, full = {}, {}
    for lab in labs(root):
        if only and lab not in only:
            continue
        src = read_source(lab, root)
        for lang in LANGS:
            full[lab, lang] = source_notebook(lab, lang, root, src)
            sources[lab, lang] = without_book_only(full[lab, lang])
    released = release_notebooks(root / COURSE, sources)
    for (lab, lang), nb in sources.items():
        name = assignment(lab, lang)
        write(nb, out / COURSE / "source" / name / f"{lab}.ipynb")
        write(solution_notebook(full[lab, lang]), out / "solutions" / "labs" / lang / f"{lab}.ipynb")
        write(released[lab, lang], out / COURSE / "release" / name / f"{lab}.ipynb")
        write(released[lab, lang], out / "labs" / lang / f"{lab}.ipynb")
        write(book_page(released[lab, lang], inputs_digest(lab, root)), out / "book" / lang / "labs" / f"{lab}.ipynb")
    return [assignment(lab, lang) for lab, lang in sources]
