"""nbgrader preprocessors that take scoring out of the learner's kernel.

Stock ``nbgrader autograde`` runs the hidden tests in the learner's own kernel, after the learner's code, so that
code can rewrite the tests' world. Here the autograde step is one ``SandboxedGrading`` per notebook:

1. A fresh interpreter starts inside the sandbox and runs the notebook's own cells (not the test cells) in an
   IPython shell, for the outputs the learner sees in the feedback; nothing it prints or does reaches a score.
2. The named checks run in *this* process and call the learner's functions in that interpreter with the public
   and the student's hidden inputs; only numbers come back. Each test cell gets its verdict as its output, which
   nbgrader's ``SaveAutoGrades`` then turns into points as usual.
3. ``InertNotebook`` (inert.py) bounds and neutralises everything the learner controls in the notebook (outputs,
   markdown, metadata) before it reaches the gradebook, the formgrader or the feedback.

One interpreter per submission, started once: nothing of one student's run is reused for another.
"""

from __future__ import annotations

import functools
import os
import re
import secrets
import time
import warnings
from pathlib import Path

from nbformat import NotebookNode
from nbformat.v4 import new_output
from nbgrader.preprocessors import NbGraderPreprocessor
from nbgrader.utils import is_grade, is_locked, is_solution
from traitlets import Bool, Float, Unicode
from traitlets.config import LoggingConfigurable

from ..grading.checks import CHECKS, run_check
from ..grading.context import PUBLIC_SEED, seed_for
from ..grading.gradecell import checks_in
from ..lang import tr
from . import notgraded, sandbox
from .course import SECRET_FILE
from .session import Budget, CellReport, LearnerProcess, SandboxFault



RETRY_ENV = "GRADCOURSE_RETRY"  # set by the CLI when it grades again what failed the first time


def _one_line(text: str, limit: int = 300) -> str:
    return " ".join(text.split())[:limit]


class NotGraded(RuntimeError):
    """This submission gets no grade in this run (its previous grade, if any, stays): the sandbox could not start,
    the grader's own machinery failed, or the submission's files are not what they claim to be. nbgrader reports
    it as an error for this student and goes on with the others; the course's CLI retries it once and lists it."""


def is_test_cell(cell) -> bool:
    return cell.cell_type == "code" and is_grade(cell) and not is_solution(cell)


def language_of(assignment: str) -> str:
    return "es" if assignment.endswith("-es") else "en"


def learner_cells(nb) -> list[tuple[int, str]]:
    """(index, source) of every code cell the learner's notebook runs: all but the tests (and empty cells)."""
    return [(i, cell.source) for i, cell in enumerate(nb.cells)
            if cell.cell_type == "code" and not is_test_cell(cell) and cell.source.strip()]


def given_or_answer(cell) -> bool:
    """Cells that run even after the notebook's time is up, so that a slow notebook still gets its answers
    scored: the course's locked cells and the learner's answer cells. Sanitizing has matched each grade_id
    against the source notebook (unknown ids are dropped, duplicates removed), so there are as many of these as
    the course made, and the time they can take is bounded."""
    return bool(cell.metadata.get("nbgrader", {}).get("grade_id")) and (is_solution(cell) or is_locked(cell))


_SELF_CHECK = re.compile(r"^\s*self_check\(", re.M)


def self_check_note(lang: str):
    """What a self-check cell shows in the feedback: the course package (and so the self-checks) is not in the
    sandbox, and an empty cell would look like a check that passed silently."""
    return _stream(tr(lang, "(Self-checks do not run while grading: the graded cell below gives the verdict.)\n",
                      "(Las autocomprobaciones no se ejecutan al calificar: el veredicto está en la celda "
                      "calificada de abajo.)\n"))


def _stream(text: str):
    return new_output("stream", name="stdout", text=text)


def _error(message: str):
    return new_output("error", ename="AssertionError", evalue=message, traceback=[f"AssertionError: {message}"])


@functools.lru_cache(maxsize=1)
def _sandbox_starts() -> None:
    sandbox.check_available()  # once per grading process, not per notebook


class SandboxPolicy(LoggingConfigurable):
    """Whether grading may go on where the sandbox cannot start (``--SandboxPolicy.allow_unsandboxed=True``)."""

    allow_unsandboxed = Bool(False, help="Run learner code unconfined (resource limits only) where the sandbox "
                             "cannot start; every run then warns").tag(config=True)

    def confined(self) -> bool:
        """True where the sandbox works; False if it does not and the instructor allowed that; else refuse."""
        try:
            _sandbox_starts()
            return True
        except sandbox.SandboxUnavailable as exc:
            if not self.allow_unsandboxed:
                raise sandbox.SandboxUnavailable(
                    f"refusing to run learner code unconfined: {exc} (or set SandboxPolicy.allow_unsandboxed = True "
                    "in nbgrader_config.py to accept the risk)") from exc
            warnings.warn(f"GRADING WITHOUT A SANDBOX (learner code can read and write what you can): {exc}",
                          stacklevel=2)
            self.log.warning("GRADING WITHOUT A SANDBOX: %s", exc)
            return False


def sandbox_ready(course: Path) -> None:
    """Before a batch: refuse to start grading, in one line, where the sandbox cannot run and the course has not
    chosen to grade without it."""
    from traitlets.config.loader import PyFileConfigLoader
    config = PyFileConfigLoader("nbgrader_config.py", str(course)).load_config()
    SandboxPolicy(config=config).confined()


def course_secret(path: Path) -> str:
    """The course's secret: without it, a learner who knows the public check code and their own id could compute
    their hidden inputs in advance and hard-code the answers."""
    try:  # exclusive create: of graders starting at once, exactly one writes it and all read the same secret
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        pass
    else:
        with os.fdopen(fd, "w") as f:
            f.write(secrets.token_hex(32))
    for _ in range(100):  # another grader may have created it a moment ago and not written it yet
        secret = path.read_text().strip()
        if secret:
            return secret
        time.sleep(0.01)
    raise RuntimeError(f"{path} is empty: delete it, or restore the course's secret into it")


class SandboxedGrading(NbGraderPreprocessor):
    """Run the notebook in a sandboxed interpreter, then score every test cell from the named checks it calls."""

    # The course's solved labs run in under 2 s each, whole (bench/labs.py), and its target is 10 s: a cell that
    # needs more than 10 s is stuck, and waiting nbgrader's generic 30 s for it only slows the whole class.
    cell_seconds = Float(10.0, help="Wall-clock limit of one learner cell").tag(config=True)
    notebook_seconds = Float(60.0, help="Wall-clock limit for all the learner's cells together (the course's "
                             "given cells and the answer cells still run after it)").tag(config=True)
    call_seconds = Float(10.0, help="Wall-clock limit of one call to a learner's function").tag(config=True)
    submission_seconds = Float(180.0, help="Hard wall-clock limit for everything one submission does: its cells, "
                               "the replays after a restart and every call of the checks. No cell can stretch "
                               "it; what is left undone when it runs out fails").tag(config=True)
    secret_file = Unicode(SECRET_FILE, help="Course secret mixed into every student's hidden inputs "
                          "(relative to the course folder; created on first use)").tag(config=True)

    def preprocess(self, nb, resources):
        meta = resources.get("nbgrader", {})
        student, assignment = meta.get("student", "instructor"), meta.get("assignment", "")
        try:
            nb = self._grade(nb, student, assignment)
        except Exception as exc:  # noqa: BLE001 - whatever failed here, it must not become the learner's 0
            # One line, bounded: this text reaches nbgrader's log and the CLI, and may quote what a learner wrote.
            reason = _one_line(str(exc)) if isinstance(exc, (NotGraded, SandboxFault, sandbox.SandboxUnavailable)) \
                else f"the grader failed ({type(exc).__name__})"
            notgraded.record(Path.cwd(), student, assignment, reason)
            raise NotGraded(f"{student}/{assignment} not graded: {reason}") from None
        notgraded.clear(Path.cwd(), student, assignment)
        return nb, resources

    def _grade(self, nb, student: str, assignment: str):
        reason = notgraded.unsafe_submission(Path.cwd(), student, assignment)
        if reason:
            raise NotGraded(reason)
        lang = language_of(assignment)
        hidden_seed = seed_for(f"{course_secret(Path(self.secret_file))}:{student}")
        started = time.perf_counter()
        confined = SandboxPolicy(config=self.config).confined()
        budget = Budget(self.submission_seconds)
        deadline = time.monotonic() + self.notebook_seconds
        with LearnerProcess(call_seconds=self.call_seconds, confined=confined, budget=budget) as learner:
            cells, reports = learner_cells(nb), []
            for count, (index, source) in enumerate(cells, start=1):
                cell = nb.cells[index]
                # (A cell too large to send never gets here: InertNotebook, in nbgrader's sanitizing before this
                # step, has replaced it by a one-line note.)
                if time.monotonic() > deadline and not given_or_answer(cell):
                    report = CellReport(f"<cell {index}>", False, f"not run: the notebook took more than "
                                        f"{self.notebook_seconds:g} s", lost=True)
                else:
                    report = learner.run_cell(f"<cell {index}>", source, self.cell_seconds, True, count)
                if report.lost and is_locked(cell) and not is_solution(cell) and not os.environ.get(RETRY_ENV):
                    # The course's own code cannot hang; a loaded machine can make it miss its time. Not the
                    # learner's 0: not graded now, graded alone in the retry (where the same miss is scored).
                    raise NotGraded(f"a cell given by the course did not finish ({_one_line(report.error)})")
                reports.append(report)
                cell.outputs, cell.execution_count = notebook_outputs(report, count), count
                if report.ok and not cell.outputs and _SELF_CHECK.search(source):
                    cell.outputs = [self_check_note(lang)]
            tests = [cell for cell in nb.cells if is_test_cell(cell)]
            for cell in tests:
                cell.outputs = self._verdict(cell, learner, lang, hidden_seed)
        peak = (f", learner's peak memory {learner.peak_kb / 1024:.0f} MB and CPU {learner.cpu_seconds:.2f} s"
                if learner.peak_kb else "")
        self.log.info("Ran %d cells and scored %d test cells of %s/%s in %.1f s (%d restarts, %d cells lost%s)",
                      len(cells), len(tests), student, assignment, time.perf_counter() - started,
                      learner.restarts, sum(r.lost for r in reports), peak)
        return nb

    def _verdict(self, cell, learner: LearnerProcess, lang: str, hidden_seed: int):
        pairs = checks_in(cell.source)
        if not pairs:
            return [_error(f"this test cell names no check ({cell.metadata['nbgrader']['grade_id']})")]
        lines = []
        for name, fn in pairs:
            if name not in CHECKS:
                return [_error(f"unknown check {name!r}")]
            for seed in (PUBLIC_SEED, hidden_seed):
                result = run_check(name, learner.function(fn), seed, lang)
                if result.fault:  # the grader's own machinery failed: no verdict on the learner
                    raise NotGraded(f"check {name} could not run: {result.fault}")
                if not result.passed:
                    return [_error(f"[{name}] {result.message}")]
            lines.append(f"✓ {result.message}\n")
        return [_stream("".join(lines))]


_KINDS = {"stream": ("name", "text"), "display_data": ("data", "metadata"),
          "execute_result": ("data", "metadata"), "error": ("ename", "evalue", "traceback")}


def notebook_outputs(report, count: int) -> list[NotebookNode]:
    """The outputs a learner's cell reported, rebuilt field by field (anything malformed is dropped), plus a
    line saying so when the cell hung or killed its interpreter."""
    outputs = []
    for raw in report.outputs if isinstance(report.outputs, list) else []:
        try:
            output = _rebuilt(raw, count)
        except Exception:  # noqa: BLE001 - whatever the learner's process sent, a malformed output is dropped
            output = None
        if output is not None:
            outputs.append(output)
    if report.lost:
        outputs.append(_error(report.error))
    return outputs


def _rebuilt(raw, count: int):
    """One output rebuilt field by field from what the sandbox reported, or None if it is not a valid one."""
    kind = raw.get("output_type") if isinstance(raw, dict) else None
    if kind not in _KINDS:
        return None
    fields = {key: raw.get(key) for key in _KINDS[kind]}
    if kind == "stream":
        return new_output(kind, **fields) if fields["name"] in ("stdout", "stderr") and \
            isinstance(fields["text"], str) else None
    if kind == "error":
        lines = fields["traceback"] if isinstance(fields["traceback"], list) else []
        return new_output(kind, ename=str(fields["ename"]), evalue=str(fields["evalue"]),
                          traceback=[str(line) for line in lines])
    data = fields["data"] if isinstance(fields["data"], dict) else {}
    fields["data"] = {k: v for k, v in data.items() if isinstance(k, str) and _mime_value(v)}
    fields["metadata"] = fields["metadata"] if isinstance(fields["metadata"], dict) else {}
    if not fields["data"]:
        return None
    if kind == "execute_result":
        fields["execution_count"] = count
    return new_output(kind, **fields)


def _mime_value(value) -> bool:
    """What nbformat accepts as a mime bundle's value: text, a list of texts, or JSON data (a dict)."""
    return isinstance(value, (str, dict)) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
