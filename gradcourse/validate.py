"""``python -m gradcourse.validate NOTEBOOK...``: check a lab before handing it in, as its grader will.

Each notebook runs top to bottom in a fresh kernel of this Python (grading, too, runs the learner's notebook with
its own interpreter), every cell even after an error. Then, in the notebook's language, comes every graded check
that fails with its whole message and hint, every written answer still empty, every other cell that raised, and
one summary line. Nothing else: no log lines, no kernel warnings. Exit status: 0 when everything passes, 1 when
anything fails, 2 when a file is not a readable notebook of the course (one line saying why).

It needs no nbgrader (the learner install has none) and judges a cell as ``nbgrader validate`` does: a graded code
cell fails when it shows an error or writes to stderr; a written answer is empty while its nbgrader checksum is still
the released one; a locked cell whose checksum changed was edited.
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import os
import re
import subprocess
import sys
import textwrap
import warnings
from dataclasses import dataclass, field
from pathlib import Path

from gradcourse.lang import LANGS, notebook_language, tr

WIDTH = 80              # the width the graded cells already wrap their messages to (checks.core.WIDTH)
TIMEOUT = 120           # seconds per cell: a cell that loops for ever is stopped, and reported, after this
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_CHECK_NAME = re.compile(r'^\s*(?:"""|\'\'\')\s*([\w.]+)\s+—')
_VERDICTS = ("CheckFailed", "CourseError")  # a graded cell's own failures: their traceback *is* the message


class NotALab(Exception):
    """The file cannot be validated: not there, not a notebook, or no graded cell in it."""


@dataclass
class Report:
    """What one notebook's run showed, in its reading order."""

    name: str
    lang: str
    findings: list[list[str]] = field(default_factory=list)   # each: the lines of one failure
    failing: list[str] = field(default_factory=list)          # grade_id of each failing graded or written cell
    graded: int = 0
    failed: int = 0
    points: float = 0.0
    max_points: float = 0.0
    written: int = 0
    unanswered: int = 0

    @property
    def ok(self) -> bool:
        return not self.findings


# --- nbgrader's cell metadata, read without nbgrader ---------------------------------------------------------------

def _meta(cell) -> dict:
    return cell.get("metadata", {}).get("nbgrader", {}) or {}


def _is_grade(cell) -> bool:
    return bool(_meta(cell).get("grade"))


def _is_solution(cell) -> bool:
    return bool(_meta(cell).get("solution"))


def _is_locked(cell) -> bool:
    return not _is_solution(cell) and (_is_grade(cell) or bool(_meta(cell).get("locked")))


def checksum(cell) -> str:
    """nbgrader's ``compute_checksum``, byte for byte, so that a cell as released matches its recorded checksum."""
    meta = _meta(cell)
    m = hashlib.md5()
    for part in (cell.source, cell.cell_type, str(meta.get("grade", False)), str(meta.get("solution", False)),
                 str(_is_locked(cell)), meta["grade_id"]):
        m.update(part.encode("utf-8"))
    if _is_grade(cell):
        m.update(str(float(meta["points"])).encode("utf-8"))
    return m.hexdigest()


def _unchanged(cell) -> bool | None:
    recorded = _meta(cell).get("checksum")
    return None if not recorded else recorded == checksum(cell)


# --- reading and running -------------------------------------------------------------------------------------------

def read(path: Path):
    import nbformat

    try:
        nb = nbformat.read(path, as_version=4)
    except FileNotFoundError:
        raise NotALab("no such file", "no existe ese archivo") from None
    except IsADirectoryError:
        raise NotALab("a folder, not a notebook", "es una carpeta, no un cuaderno") from None
    except PermissionError:
        raise NotALab("not allowed to read it", "no tienes permiso para leerlo") from None
    except Exception as exc:  # noqa: BLE001 - JSON, encoding or nbformat errors: all mean "not a notebook"
        raise NotALab("not a Jupyter notebook", "no es un cuaderno de Jupyter",
                      " ".join(str(exc).split())[:120] or type(exc).__name__) from None
    if not any(_is_grade(c) for c in nb.cells):
        raise NotALab("no graded cell in it: not one of the course's labs",
                      "no tiene celdas calificadas: no es un laboratorio del curso")
    return nb


def language(nb, path: Path) -> str:
    """The notebook's language as its own cells see it: $GRADCOURSE_LANG, its metadata, else its folder."""
    env = os.environ.get("GRADCOURSE_LANG")
    if env in LANGS:
        return env
    course = nb.metadata.get("gradcourse")
    declared = course.get("lang") if isinstance(course, dict) else None
    return declared if declared in LANGS else notebook_language(path.parent)


def _kernel_manager_class():
    """A kernel manager whose "python3" is always this interpreter, whatever kernel specs the user has."""
    from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
    from jupyter_client.manager import AsyncKernelManager
    from traitlets import default

    class ThisPython(KernelSpecManager):
        def get_kernel_spec(self, kernel_name, *args, **kwargs):
            return KernelSpec(argv=[sys.executable, "-m", "ipykernel_launcher", "-f", "{connection_file}"],
                              display_name="Python 3", language="python")

    class Manager(AsyncKernelManager):
        @default("kernel_spec_manager")
        def _this_python(self):
            return ThisPython()

    return Manager


def execute(nb, path: Path, lang: str, timeout: int) -> int | None:
    """Run every cell in place; None, or the index of the cell it was running if the kernel died there."""
    from nbclient import NotebookClient
    from nbclient.exceptions import DeadKernelError

    for cell in nb.cells:      # what the learner's last run left must not pass for this run's outputs
        if cell.cell_type == "code":
            cell.outputs, cell.execution_count = [], None
    quiet = logging.getLogger("gradcourse.validate.kernel")
    quiet.addHandler(logging.NullHandler())
    quiet.propagate = False
    # As JupyterLab starts a notebook's kernel: in the notebook's folder, told which notebook it runs.
    env = {**os.environ, "GRADCOURSE_LANG": lang, "JPY_SESSION_NAME": str(path.resolve()),
           "PYDEVD_DISABLE_FILE_VALIDATION": "1"}
    started = []
    client = NotebookClient(nb, timeout=timeout, kernel_name="python3", allow_errors=True, interrupt_on_timeout=True,
                            store_widget_state=False, record_timing=False, log=quiet,
                            on_cell_start=lambda cell, cell_index: started.append(cell_index),
                            kernel_manager_class=_kernel_manager_class(),
                            resources={"metadata": {"path": str(path.parent.resolve())}})
    try:
        # The kernel process's own output (transport warnings, debugger notes) is not the learner's business.
        client.execute(env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    except DeadKernelError:
        return started[-1] if started else 0
    return None


# --- judging -------------------------------------------------------------------------------------------------------

def _wrap(text: str, first: str) -> list[str]:
    lines = []
    for i, paragraph in enumerate(text.splitlines() or [""]):
        lines += textwrap.wrap(paragraph, WIDTH, initial_indent=first if i == 0 else "  ", subsequent_indent="  ",
                               break_on_hyphens=False, break_long_words=False) or ([first.rstrip()] if i == 0 else [])
    return lines


def _check_name(cell) -> str:
    m = _CHECK_NAME.match(cell.source)
    return m.group(1) if m else _meta(cell).get("grade_id", "?")


def _label(cell) -> str:
    """A written answer's own heading (``**Your derivation (A1):**``), without its markdown."""
    for line in cell.source.splitlines():
        text = line.strip().strip("*#_ ").rstrip(":*_ ").strip()
        if text and text != "✍️":
            return text
    return _meta(cell).get("grade_id", "?")


def _first_line(cell) -> str:
    line = next((ln.strip() for ln in cell.source.splitlines() if ln.strip()), "")
    return line if len(line) <= 50 else line[:49] + "…"


def _stopped(lang, timeout) -> str:
    return tr(lang, f"it ran for more than {timeout} s and was stopped (an endless loop?)",
              f"tardó más de {timeout} s y se detuvo (¿un bucle sin fin?)")


def _failure(cell, lang, timeout) -> list[str] | None:
    """The whole message of a graded cell's failure, or None if the cell passes."""
    name = _check_name(cell)
    if cell.get("execution_count") is None:               # the kernel died before it (its outputs would be empty)
        return _wrap(tr(lang, "not run: the kernel stopped before this cell.",
                        "no se ejecutó: el núcleo se detuvo antes de esta celda."), f"✗ {name}: ")
    for out in cell.outputs:
        if out.output_type == "error":
            if out.ename in _VERDICTS:        # already "✗ name: message", wrapped for a terminal and for nbgrader
                return [_ANSI.sub("", ln) for ln in "\n".join(out.traceback).splitlines()]
            if out.ename == "KeyboardInterrupt":
                return _wrap(_stopped(lang, timeout), f"✗ {name}: ")
            return _wrap(f"{out.ename}: {_ANSI.sub('', out.evalue)}", f"✗ {name}: ")
        if out.output_type == "stream" and out.name == "stderr":   # nbgrader gives such a cell no points
            said = tr(lang, "it wrote to stderr, which counts as a failure:", "escribió en stderr, y eso cuenta "
                      "como fallo:")
            return _wrap(said + "\n" + _ANSI.sub("", out.text).rstrip(), f"✗ {name}: ")
    return None


def judge(nb, name: str, lang: str, timeout: int, died_at: int | None = None) -> Report:
    report = Report(name, lang)
    for index, cell in enumerate(nb.cells, start=1):
        meta = _meta(cell)
        if meta and meta.get("cell_type") and meta["cell_type"] != cell.cell_type:
            report.findings.append(_wrap(tr(
                lang, f"cell {index} was changed from {meta['cell_type']} to {cell.cell_type}: change it back, or "
                      "it cannot be graded.",
                f"la celda {index} pasó de {meta['cell_type']} a {cell.cell_type}: devuélvela a su tipo o no se "
                "podrá calificar."), "✗ "))
            continue
        if _is_grade(cell) and _is_solution(cell):
            report.written += 1
            if _unchanged(cell):
                report.unanswered += 1
                report.failing.append(meta["grade_id"])
                report.findings.append(_wrap(tr(
                    lang, f"written answer “{_label(cell)}”: no answer yet (graded by hand).",
                    f"respuesta escrita «{_label(cell)}»: aún sin responder (se califica a mano)."), "✗ "))
            continue
        if _is_locked(cell) and _unchanged(cell) is False:
            report.findings.append(_wrap(tr(
                lang, f"cell {index} ({_first_line(cell)}) is locked but was edited: grading runs it as released, "
                      "so undo the change.",
                f"la celda {index} ({_first_line(cell)}) está bloqueada y se modificó: al calificar se ejecuta tal "
                "como se publicó, así que deshaz el cambio."), "✗ "))
        if cell.cell_type != "code":
            continue
        if _is_grade(cell):
            points = float(meta.get("points", 0))
            report.graded += 1
            report.max_points += points
            lines = _failure(cell, lang, timeout)
            if lines:
                report.failed += 1
                report.failing.append(meta["grade_id"])
                report.findings.append(lines)
            else:
                report.points += points
            continue
        for out in cell.outputs:
            if out.output_type == "error":
                what = (_stopped(lang, timeout) if out.ename == "KeyboardInterrupt"
                        else f"{out.ename}: {_ANSI.sub('', out.evalue)}")
                report.findings.append(_wrap(tr(lang, f"cell {index} ({_first_line(cell)}) raised an error: {what}",
                                                f"la celda {index} ({_first_line(cell)}) dio un error: {what}"),
                                             "✗ "))
                break
    if died_at is not None:
        where = f"{died_at + 1} ({_first_line(nb.cells[died_at])})"
        report.findings.append(_wrap(tr(
            lang, f"the kernel stopped while running cell {where}, before the end of the notebook (out of memory, "
                  "or an exit?).",
            f"el núcleo se detuvo mientras ejecutaba la celda {where}, antes del final del cuaderno (¿sin memoria, "
            "o una salida?)."), "✗ "))
    return report


def summary(r: Report) -> str:
    pts = f"{r.points:g}/{r.max_points:g}"
    if r.ok:
        line = tr(r.lang, f"{r.name}: every graded check passes on the public inputs ({pts} points).",
                  f"{r.name}: todas las comprobaciones calificadas pasan con las entradas públicas ({pts} puntos).")
        if r.written:
            line += tr(r.lang, " Your written answers are graded by hand.",
                       " Tus respuestas escritas se califican a mano.")
        return line
    parts = [tr(r.lang, f"{r.failed} of {r.graded} graded checks fail ({pts} points on the public inputs)",
                f"fallan {r.failed} de {r.graded} comprobaciones calificadas ({pts} puntos con las entradas públicas)")]
    if r.unanswered:
        parts.append(tr(r.lang, f"{r.unanswered} of {r.written} written answers are still empty",
                        f"{r.unanswered} de {r.written} respuestas escritas siguen vacías"))
    others = len(r.findings) - r.failed - r.unanswered
    if others:
        parts.append(tr(r.lang, f"{others} other problem(s)", f"{others} problema(s) más"))
    return tr(r.lang, "VALIDATION FAILED", "LA VALIDACIÓN FALLA") + f" · {r.name}: " + "; ".join(parts) + "."


# --- the command ---------------------------------------------------------------------------------------------------

def validate(path: Path, timeout: int = TIMEOUT) -> Report:
    nb = read(path)
    lang = language(nb, path)
    died_at = execute(nb, path, lang, timeout)
    return judge(nb, path.name, lang, timeout, died_at)


def _unreadable(path: Path, exc: NotALab) -> str:
    en, es, *detail = exc.args
    lang = os.environ.get("GRADCOURSE_LANG")
    said = tr(lang, en, es) if lang in LANGS else f"{en} · {es}"   # its language is unknown: both, on one line
    return f"error: {path}: {said}" + "".join(f" ({d})" for d in detail)


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m gradcourse.validate",
        description="Run each lab top to bottom in a fresh kernel and list every failure, whole, in the lab's "
                    "language · Ejecuta cada laboratorio de principio a fin y enumera cada fallo completo.",
        epilog="exit status · estado de salida: 0 ok, 1 failures · fallos, 2 unreadable file · archivo ilegible")
    parser.add_argument("notebooks", nargs="+", type=Path, metavar="NOTEBOOK")
    parser.add_argument("--timeout", type=int, default=TIMEOUT, metavar="SECONDS",
                        help=f"stop a cell after this long (default {TIMEOUT}) · detener una celda tras este tiempo")
    args = parser.parse_args(argv)
    logging.getLogger("traitlets").setLevel(logging.CRITICAL)   # jupyter_client's warnings are not the learner's
    warnings.simplefilter("ignore")
    if hasattr(sys.stdout, "reconfigure"):
        sys.stdout.reconfigure(errors="replace")                # ✓ ✗ « » on a console that lacks them

    status = 0
    for i, path in enumerate(args.notebooks):
        try:
            report = validate(path, args.timeout)
        except NotALab as exc:
            print(_unreadable(path, exc), file=sys.stderr, flush=True)
            status = 2
            continue
        if i:
            print()
        for lines in report.findings:
            print("\n".join(lines))
        if report.findings:
            print()
        print("\n".join(_wrap(summary(report), "")), flush=True)
        if not report.ok:
            status = max(status, 1)
    return status


if __name__ == "__main__":
    sys.exit(main())
