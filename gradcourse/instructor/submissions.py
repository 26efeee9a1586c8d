"""What is wrong with a submission, said in one line (broken JSON, wrong file name, deleted or re-typed cells), and
which paths under submitted/ must not be graded (symbolic links, special files, student folders with odd names).

Everything under submitted/ was written by a learner: any JSON, any file name, any kind of file becomes at most one
problem line, never an exception, so one bad notebook cannot stop the summary of the class.
"""
from __future__ import annotations

import json
import os
import re
import stat
from pathlib import Path

from ..lang import tr

MAX_NOTEBOOK_BYTES = 20 * 1024 * 1024   # a released lab is ~25 kB; 20 MB leaves room for plots, not for a disk image
_STUDENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._@-]{0,63}")
_KINDS = {dict: ("an object", "un objeto"), list: ("a list", "una lista"), str: ("a string", "un texto"),
          bool: ("a boolean", "un booleano"), int: ("a number", "un número"), float: ("a number", "un número"),
          type(None): ("null", "null")}


def lab_of(assignment: str) -> str:
    return assignment.rsplit("-", 1)[0]


def student_dirs(course: Path) -> list[str]:
    sub = Path(course) / "submitted"
    return sorted(p.name for p in sub.iterdir() if p.is_dir()) if sub.is_dir() else []


def valid_student_id(name) -> bool:
    """Letters, digits and ``._@-``, starting with a letter or digit, at most 64: safe as one path component."""
    return isinstance(name, str) and bool(_STUDENT_ID.fullmatch(name)) and ".." not in name


def shown(text, limit=100) -> str:
    """``text`` safe to print on one line: a learner's file name may hold newlines, terminal escapes or bytes that
    are not UTF-8 (kept by Python as lone surrogates, which ``print`` cannot encode)."""
    text = "".join(c if c.isprintable() else ascii(c)[1:-1] for c in str(text))
    return text if len(text) <= limit else text[:limit] + "…"


def _kind(value, lang):
    return tr(lang, *_KINDS.get(type(value), (type(value).__name__,) * 2))


class Refused(Exception):
    """A file that is not read or not graded; ``args`` is the reason in English and in Spanish."""

    def say(self, lang="en"):
        return tr(lang, *self.args)


def _file_kind(mode):
    """Why a file that is not a plain file is refused, or None for a plain file."""
    if stat.S_ISLNK(mode):
        return "is a symbolic link", "es un enlace simbólico"
    if stat.S_ISDIR(mode):
        return "is a folder", "es una carpeta"
    if not stat.S_ISREG(mode):
        return "is not a regular file (FIFO, device or socket)", "no es un archivo normal (FIFO, dispositivo o socket)"
    return None


def read_regular_file(path, cap=MAX_NOTEBOOK_BYTES) -> tuple[bytes, os.stat_result]:
    """The bytes of a plain file of at most ``cap`` bytes, read once, or raise ``Refused``.

    The ``lstat`` gives a clear reason; the descriptor is opened with O_NOFOLLOW (a symlink swapped in after the
    check fails to open) and O_NONBLOCK (a FIFO swapped in does not hang), then checked again with ``fstat``."""
    too_big = (f"is larger than {cap // 2**20} MB", f"ocupa más de {cap // 2**20} MB")
    st = os.lstat(path)
    if _file_kind(st.st_mode):
        raise Refused(*_file_kind(st.st_mode))
    if st.st_size > cap:
        raise Refused(*too_big)
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except OSError as exc:
        raise Refused(f"cannot be opened ({exc.strerror})", f"no se puede abrir ({exc.strerror})") from None
    with os.fdopen(fd, "rb") as f:
        st = os.fstat(fd)
        if _file_kind(st.st_mode):
            raise Refused(*_file_kind(st.st_mode))
        data = f.read(cap + 1)
    if len(data) > cap:
        raise Refused(*too_big)
    return data, st


def parse_notebook(data: bytes) -> dict:
    """The notebook's top-level JSON object, or raise ``Refused`` saying why it is not one."""
    try:
        nb = json.loads(data.decode("utf-8"))
    except UnicodeDecodeError:
        raise Refused("not UTF-8 text", "no es texto UTF-8") from None
    except RecursionError:
        raise Refused("JSON nested too deeply", "JSON con demasiados niveles de anidamiento") from None
    except json.JSONDecodeError as exc:
        raise Refused(f"invalid JSON at line {exc.lineno}, column {exc.colno}",
                      f"JSON no válido en la línea {exc.lineno}, columna {exc.colno}") from None
    if not isinstance(nb, dict):
        raise Refused(f"the JSON is {_kind(nb, 'en')}, not a notebook",
                      f"el JSON es {_kind(nb, 'es')}, no un cuaderno")
    return nb


class _Malformed(Exception):
    """A part of a notebook with the wrong JSON type: ``args = (what, value)``, ``what`` None for the whole cell."""


def _field(obj, key, want, what):
    value = obj.get(key, want())
    if not isinstance(value, want):
        raise _Malformed(what, value)
    return value


def _cell_entry(cell):
    """(grade_id, cell_type) of a cell nbgrader tracks, None for one it does not; ``_Malformed`` if neither."""
    if not isinstance(cell, dict):
        raise _Malformed(None, cell)
    nbg = _field(_field(cell, "metadata", dict, "metadata"), "nbgrader", dict, "metadata.nbgrader")
    if "grade_id" not in nbg:
        return None
    gid, kind = nbg["grade_id"], cell.get("cell_type")
    if not isinstance(gid, str) or not gid:
        raise _Malformed("grade_id", gid)
    if not isinstance(kind, str):
        raise _Malformed("cell_type", kind)
    return gid, kind


def _malformed_phrase(i, what, value, lang):
    kind = _kind(value, lang)
    if what is None:
        return tr(lang, f"cell {i} is {kind}", f"la celda {i} es {kind}")
    return tr(lang, f"cell {i}: {what} is {kind}", f"celda {i}: {what} es {kind}")


def _cells(nb, lang="en"):
    """{grade_id: cell_type} of the tracked cells, and one phrase per malformed cell (``cell 3: grade_id is a list``).

    Raise ``Refused`` when ``cells`` itself is not a list."""
    cells = nb.get("cells")
    if not isinstance(cells, list):
        raise Refused(f"`cells` is {'missing' if cells is None else _kind(cells, 'en')}",
                      f"`cells` {'no existe' if cells is None else 'es ' + _kind(cells, 'es')}")
    found, bad = {}, []
    for i, cell in enumerate(cells, 1):
        try:
            entry = _cell_entry(cell)
        except _Malformed as exc:
            bad.append(_malformed_phrase(i, *exc.args, lang))
            continue
        if entry:
            found[entry[0]] = entry[1]
    return found, bad


def _graded(nb):
    return {c["metadata"]["nbgrader"]["grade_id"] for c in nb.get("cells", [])
            if c.get("metadata", {}).get("nbgrader", {}).get("grade")}


def _notebook_names(folder: Path) -> list[str]:
    """The ``*.ipynb`` entries of ``folder`` as the directory lists them: no stat, so no symlink is followed."""
    return sorted(n for n in os.listdir(folder) if n.endswith(".ipynb"))


def _read_submitted(path: Path, where, name, lang):
    """(({grade_id: cell_type}, malformed cells), None), or (None, the problem line)."""
    try:
        data = read_regular_file(path)[0]
    except Refused as exc:       # the file itself: a symlink, a folder, a FIFO, too large
        return None, tr(lang, f"{where}: {name} {exc.say('en')}; not graded.",
                        f"{where}: {name} {exc.say('es')}; sin calificar.")
    except OSError as exc:
        return None, tr(lang, f"{where}: {name} cannot be read ({exc.strerror}); not graded.",
                        f"{where}: no se puede leer {name} ({exc.strerror}); sin calificar.")
    try:
        return _cells(parse_notebook(data), lang), None
    except Refused as exc:       # its content
        return None, tr(lang, f"{where}: {name} is not a readable notebook ({shown(exc.say('en'))}); not graded.",
                        f"{where}: {name} no es un cuaderno legible ({shown(exc.say('es'))}); sin calificar.")


def _listed(items, lang, limit=5):
    more = len(items) - limit
    return "; ".join(items[:limit]) + (tr(lang, f"; and {more} more", f"; y {more} más") if more > 0 else "")


def inspect_submission(course: Path, student: str, assignment: str, lang="en") -> list[str]:
    course = Path(course)
    where = f"{shown(student)} / {shown(assignment)}"
    release = course / "release" / assignment
    if not release.is_dir():
        return [tr(lang, f"{where}: unknown assignment folder (expected one of labNN-en, labNN-es); not graded.",
                   f"{where}: carpeta de tarea desconocida (se esperaba labNN-en o labNN-es); sin calificar.")]
    folder = course / "submitted" / student / assignment
    if os.path.islink(folder) or not folder.is_dir():
        return [tr(lang, f"{where}: the assignment folder is a symbolic link or not a folder; not graded.",
                   f"{where}: la carpeta de la tarea es un enlace simbólico o no es una carpeta; sin calificar.")]
    expected = _notebook_names(release)
    try:
        found = _notebook_names(folder)
    except OSError as exc:
        return [tr(lang, f"{where}: the folder cannot be read ({exc.strerror}); not graded.",
                   f"{where}: no se puede leer la carpeta ({exc.strerror}); sin calificar.")]
    out = []
    for name in expected:
        if name not in found:
            others = ", ".join(shown(n) for n in found if n not in expected) or "—"
            out.append(tr(lang, f"{where}: {name} is missing (found: {others}); rename the file to {name}. Not graded.",
                          f"{where}: falta {name} (hay: {others}); el archivo debe llamarse {name}. Sin calificar."))
            continue
        cells, problem = _read_submitted(folder / name, where, name, lang)
        if problem:
            out.append(problem)
            continue
        got, bad = cells
        if bad:
            out.append(tr(lang, f"{where}: {name}: malformed cells ({_listed(bad, lang)}); "
                                "they cannot be matched to the lab's cells.",
                          f"{where}: {name}: celdas mal formadas ({_listed(bad, lang)}); "
                          "no se pueden emparejar con las celdas de la tarea."))
        out += _cell_problems(json.loads((release / name).read_text(encoding="utf-8")), got, f"{where}: {name}", lang)
    return out


def _cell_problems(released, got, where, lang):
    """Lines for the released cells that are missing from, or re-typed in, the submission's ``got``."""
    ref, graded = _cells(released)[0], _graded(released)
    tests = [g for g in ref if g not in got and g in graded]
    answers = [g for g in ref if g not in got and g not in graded]
    out = []
    if tests:
        out.append(tr(lang, f"{where}: deleted graded cells {', '.join(tests)}; "
                            "restored from the gradebook and graded.",
                      f"{where}: celdas calificadas borradas {', '.join(tests)}; "
                      "se restauran desde el libro de calificaciones y se califican."))
    if answers:
        out.append(tr(lang, f"{where}: deleted answer cells {', '.join(answers)}; "
                            "the checks of these functions score 0.",
                      f"{where}: celdas de respuesta borradas {', '.join(answers)}; "
                      "las comprobaciones de esas funciones puntúan 0."))
    retyped = [f"{g} ({ref[g]} → {shown(got[g], 20)})" for g in ref if g in got and got[g] != ref[g]]
    if retyped:
        out.append(tr(lang, f"{where}: re-typed cells {', '.join(retyped)}; graded as the original type.",
                      f"{where}: celdas con otro tipo {', '.join(retyped)}; se califican con el tipo original."))
    return out


def _student_problem(course: Path, student: str, lang):
    """The line that stops a whole student folder from being inspected, or None."""
    path = course / "submitted" / student
    if not valid_student_id(student):
        return tr(lang, f"{shown(student)}: not a valid student id (letters, digits and . _ @ -, "
                        "at most 64 characters); not graded.",
                  f"{shown(student)}: no es un identificador de estudiante válido (letras, dígitos y . _ @ -, "
                  "64 caracteres como máximo); sin calificar.")
    if os.path.islink(path):
        return tr(lang, f"{student}: the student folder is a symbolic link; not graded.",
                  f"{student}: la carpeta del estudiante es un enlace simbólico; sin calificar.")
    return None


def inspect_course(course: Path, lang="en") -> list[str]:
    course = Path(course)
    problems = []
    for student in student_dirs(course):
        problem = _student_problem(course, student, lang)
        if problem:
            problems.append(problem)
            continue
        folder = course / "submitted" / student
        try:
            names = sorted(os.listdir(folder))
        except OSError as exc:
            problems.append(tr(lang, f"{student}: the student folder cannot be read ({exc.strerror}); not graded.",
                               f"{student}: no se puede leer la carpeta del estudiante ({exc.strerror}); "
                               "sin calificar."))
            continue
        for name in names:
            if (folder / name).is_dir():     # follows a symlink on purpose: inspect_submission reports it
                problems += inspect_submission(course, student, name, lang)
    return problems


# --- what autograde must refuse -------------------------------------------------------------------------------

def _path_kind_problem(path: Path):
    """Why nbgrader must not touch ``path`` (a symlink or a special file), or None."""
    st = os.lstat(path)
    if stat.S_ISLNK(st.st_mode):
        return "symbolic link"
    if not (stat.S_ISREG(st.st_mode) or stat.S_ISDIR(st.st_mode)):
        return "not a regular file or folder (FIFO, device or socket)"
    return None


def refused_submissions(course) -> list[tuple[str, str, str]]:
    """(student, assignment, reason) for everything under ``<course>/submitted/`` autograde must not read: a
    symbolic link at any depth (to a folder or a file, even dangling), a FIFO, device or socket, a student folder
    whose name is not a valid id. ``assignment`` is "" when the problem is the student folder itself; ``student``
    is "" when it is submitted/ itself."""
    submitted = Path(course) / "submitted"
    if os.path.islink(submitted):
        return [("", "", "submitted/ is a symbolic link")]
    if not submitted.is_dir():
        return []
    out = []

    def note(path, reason):
        parts = path.relative_to(submitted).parts or ("",)
        out.append((parts[0], parts[1] if len(parts) > 1 else "", f"{shown('/'.join(parts))}: {reason}"))

    for root, dirs, files in os.walk(submitted, followlinks=False,
                                     onerror=lambda e: note(Path(e.filename), f"cannot be read ({e.strerror})")):
        root = Path(root)
        if root == submitted:
            out += [(d, "", f"{shown(d)}: not a valid student id") for d in dirs if not valid_student_id(d)]
        for name in dirs + files:
            try:
                problem = _path_kind_problem(root / name)
            except OSError as exc:      # vanished or unreadable meanwhile: refuse rather than guess
                problem = f"cannot be inspected ({exc.strerror})"
            if problem:
                note(root / name, problem)
    return sorted(out)
