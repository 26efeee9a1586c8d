"""A lab's graded cell: written by the lab generator, read back by the autograder. One format, one module.

The cell a learner sees runs its check on the public inputs. Its hidden part, which nbgrader removes from the
released notebook, says what happens at grading time: the autograder does not run this cell in the learner's
kernel; it reads the ``grade("<check>", <function>...)`` calls from the course's own copy of the cell
(:func:`checks_in`) and runs those checks outside the learner's process, on inputs drawn from the course's secret
and the student's id. Run in the instructor's source notebook, ``hidden=True`` draws from a fixed instructor seed.
"""
from __future__ import annotations

import ast

IMPORT = "from gradcourse.grading.checks import grade"
HIDDEN_NOTE = {
    "en": "# At grading time this check runs outside the notebook, on inputs drawn for each student from the course "
          "secret.",
    "es": "# Al calificar, esta comprobación se ejecuta fuera del cuaderno, con entradas generadas para cada "
          "estudiante a partir del secreto del curso.",
}


def source(check: str, function: str, title: str, lang: str) -> str:
    """The graded cell of ``check`` applied to the learner's ``function``; ``title`` in ``lang``."""
    return (f'"""{check} — {title}"""\n'
            f"{IMPORT}\n"
            f'grade("{check}", {function})\n'
            f"### BEGIN HIDDEN TESTS\n"
            f"{HIDDEN_NOTE[lang]}\n"
            f'grade("{check}", {function}, hidden=True)\n'
            f"### END HIDDEN TESTS")


def checks_in(cell_source: str) -> list[tuple[str, str]]:
    """(check name, function name) for each ``grade("name", fn, ...)`` call of a graded cell's trusted source."""
    found = []
    for node in ast.walk(ast.parse(cell_source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "grade"
                and len(node.args) >= 2 and isinstance(node.args[0], ast.Constant)
                and isinstance(node.args[1], ast.Name)):
            found.append((node.args[0].value, node.args[1].id))
    return list(dict.fromkeys(found))
