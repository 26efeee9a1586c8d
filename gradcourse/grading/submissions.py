"""What is wrong with a submission, said in one line (broken JSON, wrong file name, deleted or re-typed cells)."""
from __future__ import annotations

import json
from pathlib import Path

from .compare import tr


def lab_of(assignment: str) -> str:
    return assignment.rsplit("-", 1)[0]


def student_dirs(course: Path) -> list[str]:
    sub = Path(course) / "submitted"
    return sorted(p.name for p in sub.iterdir() if p.is_dir()) if sub.is_dir() else []


def _cells(nb):
    return {c.get("metadata", {}).get("nbgrader", {}).get("grade_id"): c.get("cell_type")
            for c in nb.get("cells", []) if c.get("metadata", {}).get("nbgrader", {}).get("grade_id")}


def _graded(nb):
    return {c["metadata"]["nbgrader"]["grade_id"] for c in nb.get("cells", [])
            if c.get("metadata", {}).get("nbgrader", {}).get("grade")}


def inspect_submission(course: Path, student: str, assignment: str, lang="en") -> list[str]:
    course = Path(course)
    where = f"{student} / {assignment}"
    release = course / "release" / assignment
    if not release.is_dir():
        return [tr(lang, f"{where}: unknown assignment folder (expected one of labNN-en, labNN-es); not graded.",
                   f"{where}: carpeta de tarea desconocida (se esperaba labNN-en o labNN-es); sin calificar.")]
    expected = sorted(p.name for p in release.glob("*.ipynb"))
    found = sorted(p.name for p in (course / "submitted" / student / assignment).glob("*.ipynb"))
    out = []
    for name in expected:
        if name not in found:
            others = ", ".join(n for n in found if n not in expected) or "—"
            out.append(tr(lang, f"{where}: {name} is missing (found: {others}); rename the file to {name}. Scored 0.",
                          f"{where}: falta {name} (hay: {others}); el archivo debe llamarse {name}. Puntuación 0."))
            continue
        path = course / "submitted" / student / assignment / name
        try:
            nb = json.loads(path.read_text(encoding="utf-8"))
            got = _cells(nb)
        except (ValueError, UnicodeDecodeError, AttributeError) as exc:
            out.append(tr(lang, f"{where}: {name} is not a readable notebook ({type(exc).__name__}); scored 0.",
                          f"{where}: {name} no es un cuaderno legible ({type(exc).__name__}); puntuación 0."))
            continue
        released = json.loads((release / name).read_text(encoding="utf-8"))
        ref, graded = _cells(released), _graded(released)
        tests = [g for g in ref if g not in got and g in graded]
        answers = [g for g in ref if g not in got and g not in graded]
        if tests:
            out.append(tr(lang, f"{where}: {name}: deleted graded cells {', '.join(tests)}; "
                                "restored from the gradebook and graded.",
                          f"{where}: {name}: celdas calificadas borradas {', '.join(tests)}; "
                          "se restauran desde el libro de notas y se califican."))
        if answers:
            out.append(tr(lang, f"{where}: {name}: deleted answer cells {', '.join(answers)}; "
                                "the checks of these functions score 0.",
                          f"{where}: {name}: celdas de respuesta borradas {', '.join(answers)}; "
                          "las comprobaciones de esas funciones puntúan 0."))
        retyped = [f"{g} ({ref[g]} → {got[g]})" for g in ref if g in got and got[g] != ref[g]]
        if retyped:
            out.append(tr(lang, f"{where}: {name}: re-typed cells {', '.join(retyped)}; graded as the original type.",
                          f"{where}: {name}: celdas con otro tipo {', '.join(retyped)}; se califican con el tipo original."))
    return out


def inspect_course(course: Path, lang="en") -> list[str]:
    course = Path(course)
    problems = []
    for student in student_dirs(course):
        for adir in sorted(p for p in (course / "submitted" / student).iterdir() if p.is_dir()):
            problems += inspect_submission(course, student, adir.name, lang)
    return problems
