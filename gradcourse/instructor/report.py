"""The class report: how each check went, which mistakes the class made and who made them, one static page.

``python -m gradcourse.instructor report [--lang en|es]`` writes ``<course>/reports/class-report-<lang>.html``
and a CSV beside it. Every number comes from the graded run, never from running anything again:

- the pass rate of each check and each submission's score: the gradebook;
- the pitfalls: the verdict the autograde step wrote into each test cell of the autograded notebook, whose last
  words name the pitfall the learner's function reproduced (:func:`gradcourse.grading.fingerprint.pitfall_in`);
- the submissions that got no grade, and why: :mod:`gradcourse.scoring.notgraded`.

The page has no script and loads nothing: the plots are PNG images inside it, the style is inline, and a content
security policy forbids anything else. Everything a learner wrote (an id, a reason that quotes a file name) is
escaped.
"""
from __future__ import annotations

import base64
import csv
import html
import io
import json
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path

from ..grading import fingerprint, pitfalls
from ..grading.checks import CHECKS
from ..grading.pitfalls.sections import where
from ..lang import tr
from ..scoring import notgraded
from .submissions import lab_of, read_regular_file, parse_notebook, Refused

FOLDER = "reports"


@dataclass
class Submission:
    student: str
    assignment: str
    score: float
    max_score: float
    checks: dict = field(default_factory=dict)       # grade_id -> passed
    failed: list = field(default_factory=list)        # check names that failed
    pitfalls: dict = field(default_factory=dict)      # pitfall id -> [check names that named it]

    @property
    def lab(self) -> str:
        return lab_of(self.assignment)


def grade_id(check: str) -> str:
    """The grade cell of a named check (the generator's naming: check-softmax-values for softmax.values)."""
    return "check-" + check.replace(".", "-").replace("_", "-")


_CHECK_OF = {grade_id(name): name for name in CHECKS}


# ------------------------------------------------------------------------------------------ reading the run

def graded_submissions(db_url: str) -> list[Submission]:
    """Every autograded submission in the gradebook, with its score and the verdict of each code check."""
    from nbgrader.api import Gradebook
    found = []
    with Gradebook(db_url) as gb:
        for assignment in gb.assignments:
            for sub in assignment.submissions:
                code = [g for nb in sub.notebooks for g in nb.grades if g.cell_type == "code"]
                if not any(g.auto_score is not None for g in code):
                    continue            # recorded but never autograded: its reason is in not_graded/
                s = Submission(sub.student.id, assignment.name, float(sub.score or 0), float(sub.max_score or 0))
                s.checks = {g.name: (g.score or 0) >= g.max_score for g in code}
                found.append(s)
    return sorted(found, key=lambda s: (s.lab, s.student, s.assignment))


def verdicts(notebook: dict) -> list[tuple[str, str]]:
    """(check name, failure message) of every failed test cell of an autograded notebook. A test cell's output
    is the grader's (autograde.py writes it), so only its error output is read, and only a message that opens
    with the name of a check of the course."""
    out = []
    for cell in notebook.get("cells", []) if isinstance(notebook.get("cells"), list) else []:
        meta = cell.get("metadata", {}).get("nbgrader", {}) if isinstance(cell, dict) else {}
        if not (isinstance(meta, dict) and meta.get("grade") and not meta.get("solution")):
            continue
        for output in cell.get("outputs", []) if isinstance(cell.get("outputs"), list) else []:
            if not isinstance(output, dict) or output.get("output_type") != "error":
                continue
            text = output.get("evalue")
            if isinstance(text, str) and text.startswith("[") and "] " in text:
                name, message = text[1:].split("] ", 1)
                if name in CHECKS:
                    out.append((name, message))
    return out


def named_pitfall(check: str, message: str) -> str | None:
    """The pitfall a failure message names, if it is one of the pitfalls of that check's function."""
    pid = fingerprint.pitfall_in(message)
    stub = CHECKS[check].stub
    return pid if pid and isinstance(pitfalls.MATRIX.get((pid, stub)), pitfalls.Wrong) else None


def read_pitfalls(course: Path, sub: Submission) -> None:
    folder = course / "autograded" / sub.student / sub.assignment
    for path in sorted(folder.glob("*.ipynb")) if folder.is_dir() else []:
        try:
            notebook = parse_notebook(read_regular_file(path)[0])
        except (Refused, OSError, json.JSONDecodeError):
            continue
        for check, message in verdicts(notebook):
            sub.failed.append(check)
            pid = named_pitfall(check, message)
            if pid:
                sub.pitfalls.setdefault(pid, []).append(check)


@dataclass
class ClassRun:
    submissions: list
    not_graded: dict                # (student, assignment) -> reason

    @property
    def labs(self) -> list[str]:
        return sorted({s.lab for s in self.submissions} | {lab_of(a) for _, a in self.not_graded})

    def pitfall_counts(self) -> dict[tuple[str, str], list[Submission]]:
        """{(lab, pitfall id): the submissions that reproduce it}."""
        counts = defaultdict(list)
        for s in self.submissions:
            for pid in s.pitfalls:
                counts[s.lab, pid].append(s)
        return dict(sorted(counts.items(), key=lambda kv: (kv[0][0], -len(kv[1]), kv[0][1])))

    def check_rates(self, lab: str) -> list[tuple[str, int, int]]:
        """(grade_id, passed, graded) of every code check of ``lab``, in the lab's order."""
        tally = defaultdict(lambda: [0, 0])
        for s in self.submissions:
            if s.lab == lab:
                for gid, ok in s.checks.items():
                    tally[gid][0] += ok
                    tally[gid][1] += 1
        order = {grade_id(name): i for i, name in enumerate(CHECKS)}
        return [(gid, p, n) for gid, (p, n) in sorted(tally.items(), key=lambda kv: (order.get(kv[0], 1e9), kv[0]))]


def read_run(course: Path, db_url: str) -> ClassRun:
    listed = notgraded.listed(course)
    fresh = db_url.startswith("sqlite:///") and not Path(db_url[len("sqlite:///"):]).exists()
    subs = [] if fresh else [s for s in graded_submissions(db_url) if (s.student, s.assignment) not in listed]
    for s in subs:
        read_pitfalls(course, s)
    return ClassRun(subs, listed)


# ------------------------------------------------------------------------------------------ plots

def _png(fig) -> str:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    return base64.b64encode(buf.getvalue()).decode("ascii")


def score_plot(run: ClassRun, lang: str) -> str | None:
    """Small multiples: the distribution of scores (% of the lab's points) per lab."""
    from matplotlib.figure import Figure
    labs = [lab for lab in run.labs if any(s.lab == lab and s.max_score for s in run.submissions)]
    if not labs:
        return None
    fig = Figure(figsize=(2.6 * len(labs), 2.4))
    axes = fig.subplots(1, len(labs), sharey=True, squeeze=False)[0]
    for ax, lab in zip(axes, labs):
        scores = [100 * s.score / s.max_score for s in run.submissions if s.lab == lab and s.max_score]
        ax.hist(scores, bins=list(range(0, 101, 10)), color="#3b6ea5", edgecolor="white")
        ax.set_title(lab)
        ax.set_xlim(0, 100)
        ax.set_xlabel(tr(lang, "score (%)", "nota (%)"))
        ax.yaxis.get_major_locator().set_params(integer=True)
    axes[0].set_ylabel(tr(lang, "submissions", "entregas"))
    return _png(fig)


def pitfall_plot(run: ClassRun, lang: str) -> str | None:
    """One panel per lab, three to a row: how many submissions reproduce each pitfall, most frequent on top."""
    from matplotlib.figure import Figure
    counts = run.pitfall_counts()
    labs = sorted({lab for lab, _ in counts})
    if not labs:
        return None
    rows = max(sum(1 for lab2, _ in counts if lab2 == lab) for lab in labs)
    width = min(3, len(labs))
    height = -(-len(labs) // width)
    fig = Figure(figsize=(3.9 * width, (0.7 + 0.24 * rows) * height))
    axes = fig.subplots(height, width, squeeze=False).ravel()
    most = max(len(subs) for subs in counts.values())
    for ax, lab in zip(axes, labs):
        items = [(pid, len(subs)) for (lab2, pid), subs in counts.items() if lab2 == lab]
        top = [rows - 1 - i for i in range(len(items))]  # from the top down, the same bar height in every panel
        ax.barh(top, [n for _, n in items], height=0.7, color="#c0504d")
        ax.set_yticks(top, [pid for pid, _ in items], fontsize=8)
        ax.set_ylim(-0.6, rows - 0.4)
        ax.set_xlim(0, most + 0.5)
        ax.set_title(lab, fontsize=10)
        ax.set_xlabel(tr(lang, "submissions", "entregas"), fontsize=8)
        ax.xaxis.get_major_locator().set_params(integer=True)
        ax.tick_params(axis="x", labelsize=8)
    for ax in axes[len(labs):]:
        ax.set_visible(False)
    fig.tight_layout()
    return _png(fig)


# ------------------------------------------------------------------------------------------ the page

def _e(text) -> str:
    return html.escape(str(text), quote=True)


def _pitfall_text(pid: str, lang: str) -> str:
    p = pitfalls.PITFALLS[pid]
    return tr(lang, p.en, p.es)


def _revisit(pid: str, lang: str) -> str:
    found = where(pid, lang)
    if found is None:
        return _e(pitfalls.PITFALLS[pid].named_in)
    chapter, section, path = found
    return f"{_e(chapter)} — <em>{_e(section)}</em><br><code>{_e(path)}</code>"


def _bar(passed: int, total: int) -> str:
    pct = 100 * passed / total if total else 0
    return (f'<span class="rate"><span class="bar"><span style="width:{pct:.0f}%"></span></span> '
            f'<span class="num">{passed}/{total} ({pct:.0f}%)</span></span>')


def _table(head: list[str], rows: list[list[str]], cls="") -> str:
    th = "".join(f"<th>{h}</th>" for h in head)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="{cls}"><thead><tr>{th}</tr></thead><tbody>{body}</tbody></table>'


STYLE = """
body { font: 15px/1.45 system-ui, sans-serif; margin: 2em auto; max-width: 68em; padding: 0 1em; color: #222; }
h1 { font-size: 1.7em; margin-bottom: .2em; }
h2 { border-bottom: 1px solid #ccc; padding-bottom: .2em; margin-top: 2em; }
table { border-collapse: collapse; margin: .6em 0 1.4em; width: 100%; }
th, td { text-align: left; vertical-align: top; padding: .3em .6em; border-bottom: 1px solid #e4e4e4; }
th { background: #f3f3f3; }
.bar { display: inline-block; width: 8em; height: .8em; background: #eee; vertical-align: middle; }
.bar span { display: block; height: 100%; background: #3b6ea5; }
.num { font-variant-numeric: tabular-nums; } .rate { white-space: nowrap; }
.muted { color: #666; } code { font-size: .9em; }
.cards { display: flex; gap: 1em; flex-wrap: wrap; margin: 1em 0; }
.card { border: 1px solid #ddd; border-radius: 6px; padding: .6em 1em; min-width: 9em; }
.card b { display: block; font-size: 1.6em; } img { max-width: 100%; }
nav a { margin-right: 1em; }
"""
CSP = "default-src 'none'; img-src data:; style-src 'unsafe-inline'; base-uri 'none'; form-action 'none'"


def render(run: ClassRun, lang: str, generated: str) -> str:
    subs = run.submissions
    students = sorted({s.student for s in subs} | {st for st, _ in run.not_graded})
    counts = run.pitfall_counts()
    out = [f'<!DOCTYPE html>\n<html lang="{lang}"><head><meta charset="utf-8">',
           f'<meta http-equiv="Content-Security-Policy" content="{CSP}">',
           f'<meta name="viewport" content="width=device-width, initial-scale=1">'
           f'<title>{tr(lang, "Class report", "Informe de la clase")}</title><style>{STYLE}</style></head><body>',
           f'<h1>{tr(lang, "Class report", "Informe de la clase")}</h1>',
           f'<p class="muted">{tr(lang, "Generated", "Generado el")} {_e(generated)}. '
           + tr(lang, "Everything here comes from the last graded run: the gradebook, the verdicts written into "
                      "the autograded notebooks and the list of submissions that could not be graded.",
                "Todo sale de la última calificación: el libro de calificaciones, los veredictos escritos en los "
                "cuadernos calificados y la lista de entregas que no se pudieron calificar.") + "</p>",
           '<div class="cards">'
           f'<div class="card"><b>{len(students)}</b>{tr(lang, "learners", "estudiantes")}</div>'
           f'<div class="card"><b>{len(subs)}</b>{tr(lang, "graded submissions", "entregas calificadas")}</div>'
           f'<div class="card"><b>{len(run.not_graded)}</b>{tr(lang, "not graded", "sin calificar")}</div>'
           f'<div class="card"><b>{sum(len(v) for v in counts.values())}</b>'
           f'{tr(lang, "pitfalls recognised", "errores típicos reconocidos")}</div></div>',
           f'<nav><a href="#labs">{tr(lang, "Checks per lab", "Comprobaciones por laboratorio")}</a>'
           f'<a href="#pitfalls">{tr(lang, "Pitfalls", "Errores típicos")}</a>'
           f'<a href="#learners">{tr(lang, "Learners", "Estudiantes")}</a>'
           f'<a href="#not-graded">{tr(lang, "Not graded", "Sin calificar")}</a></nav>']

    out.append(f'<h2 id="labs">{tr(lang, "Checks per lab", "Comprobaciones por laboratorio")}</h2>')
    out.append("<p>" + tr(lang, "Each check is one graded cell; a submission passes it when it gets all its points. "
                                "The histograms show the share of each lab's points every submission got.",
                          "Cada comprobación es una celda calificada; una entrega la supera si obtiene todos sus "
                          "puntos. Los histogramas muestran qué parte de los puntos de cada laboratorio obtuvo "
                          "cada entrega.") + "</p>")
    plot = score_plot(run, lang)
    if plot:
        out.append(f'<img alt="{tr(lang, "Score distribution per lab", "Distribución de notas por laboratorio")}" '
                   f'src="data:image/png;base64,{plot}">')
    for lab in run.labs:
        rates = run.check_rates(lab)
        out.append(f'<h3 id="lab-{_e(lab)}">{_e(lab)}</h3>')
        if not rates:
            out.append(f'<p class="muted">{tr(lang, "No graded submission.", "Ninguna entrega calificada.")}</p>')
            continue
        rows = []
        for gid, passed, total in rates:
            name = _CHECK_OF.get(gid)
            title = CHECKS[name].title[lang] if name else ""
            points = f"{CHECKS[name].points:g}" if name else ""
            rows.append([f"<code>{_e(name or gid)}</code>", _e(title), points, _bar(passed, total)])
        out.append(_table([tr(lang, "check", "comprobación"), tr(lang, "what it asks", "qué pide"),
                           tr(lang, "points", "puntos"), tr(lang, "passed", "superada")], rows))

    out.append(f'<h2 id="pitfalls">{tr(lang, "Pitfalls", "Errores típicos")}</h2>')
    out.append("<p>" + tr(lang, "A pitfall is counted for a submission when a failed check found that the learner's "
                                "function behaves exactly like the course's implementation of that mistake on the "
                                "check's inputs, and like no other. A failure that matches no known mistake, or "
                                "more than one, is not counted here.",
                          "Un error típico cuenta para una entrega cuando una comprobación fallida encontró que la "
                          "función del estudiante se comporta exactamente como la implementación de ese error que "
                          "guarda el curso, con las entradas de la comprobación, y como ninguna otra. Un fallo que "
                          "no coincide con ningún error conocido, o con más de uno, no cuenta aquí.") + "</p>")
    plot = pitfall_plot(run, lang)
    if plot:
        out.append(f'<img alt="{tr(lang, "Pitfalls per lab", "Errores típicos por laboratorio")}" '
                   f'src="data:image/png;base64,{plot}">')
    if counts:
        rows = []
        for (lab, pid), found in counts.items():
            fns = sorted({CHECKS[c].stub for s in found for c in s.pitfalls[pid]})
            rows.append([_e(lab), f"{_e(_pitfall_text(pid, lang))}<br><code>{_e(pid)}</code>",
                         ", ".join(f"<code>{_e(f)}</code>" for f in fns), f'<span class="num">{len(found)}</span>',
                         ", ".join(_e(s.student) for s in found), _revisit(pid, lang)])
        out.append(_table([tr(lang, "lab", "laboratorio"), tr(lang, "pitfall", "error típico"),
                           tr(lang, "in", "en"), tr(lang, "submissions", "entregas"),
                           tr(lang, "learners", "estudiantes"), tr(lang, "to revisit", "para repasar")], rows))
    else:
        none = tr(lang, "No failure named a known pitfall.", "Ningún fallo coincidió con un error típico conocido.")
        out.append(f'<p class="muted">{none}</p>')

    out.append(f'<h2 id="learners">{tr(lang, "Learners", "Estudiantes")}</h2>')
    rows = []
    for s in sorted(subs, key=lambda s: (s.student, s.lab)):
        found = "; ".join(f"{_e(_pitfall_text(pid, lang))} (<code>{_e(pid)}</code>)" for pid in s.pitfalls) or "—"
        rows.append([_e(s.student), _e(s.assignment), f'<span class="num">{s.score:g} / {s.max_score:g}</span>',
                     f'<span class="num">{len(set(s.failed))}</span>', found])
    out.append(_table([tr(lang, "learner", "estudiante"), tr(lang, "submission", "entrega"),
                       tr(lang, "score", "nota"), tr(lang, "failed checks", "comprobaciones fallidas"),
                       tr(lang, "pitfalls found", "errores típicos encontrados")], rows))

    out.append(f'<h2 id="not-graded">{tr(lang, "Not graded", "Sin calificar")}</h2>')
    if run.not_graded:
        out.append("<p>" + tr(lang, "These submissions got no grade in the last autograde run (their previous grade, "
                                    "if any, is unchanged); they are left out of everything above.",
                              "Estas entregas no recibieron nota en la última ejecución de autograde (su nota "
                              "anterior, si la había, no cambia); no cuentan en nada de lo anterior.") + "</p>")
        rows = [[_e(st), _e(a), _e(why)] for (st, a), why in sorted(run.not_graded.items())]
        out.append(_table([tr(lang, "learner", "estudiante"), tr(lang, "submission", "entrega"),
                           tr(lang, "why", "motivo")], rows))
    else:
        every = tr(lang, "Every submission was graded.", "Todas las entregas se calificaron.")
        out.append(f'<p class="muted">{every}</p>')
    out.append("</body></html>\n")
    return "\n".join(out)


def write_csv(run: ClassRun, path: Path) -> None:
    """One row per submission: its score, the checks it failed and the pitfalls found (ids); the ones not graded
    with their reason."""
    with open(path, "w", newline="", encoding="utf-8") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(["student_id", "lab", "assignment", "score", "max_score", "failed_checks", "pitfalls", "not_graded"])
        for s in sorted(run.submissions, key=lambda s: (s.student, s.assignment)):
            w.writerow([s.student, s.lab, s.assignment, f"{s.score:g}", f"{s.max_score:g}",
                        " ".join(dict.fromkeys(s.failed)), " ".join(s.pitfalls), ""])
        for (student, assignment), why in sorted(run.not_graded.items()):
            w.writerow([student, lab_of(assignment), assignment, "", "", "", "", why])


def write_report(course: Path, lang: str, db_url: str) -> tuple[Path, Path]:
    """Write the report and its CSV under ``<course>/reports/``; return their paths."""
    course = Path(course)
    run = read_run(course, db_url)
    folder = course / FOLDER
    folder.mkdir(exist_ok=True)
    page, table = folder / f"class-report-{lang}.html", folder / f"class-report-{lang}.csv"
    page.write_text(render(run, lang, time.strftime("%Y-%m-%d %H:%M")), encoding="utf-8")
    write_csv(run, table)
    return page, table


def counts_of(run: ClassRun) -> Counter:
    """{(lab, pitfall id): number of submissions}: what the report's pitfall table says, for tests and scripts."""
    return Counter({key: len(subs) for key, subs in run.pitfall_counts().items()})
