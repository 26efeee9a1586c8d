"""nbgrader preprocessors that take scoring out of the learner's kernel.

Stock ``nbgrader autograde`` runs the hidden tests in the learner's own kernel, after the learner's code, so that
code can rewrite the tests' world. Here the autograde step is:

1. ``SandboxedExecute``: run the notebook's own cells (not the test cells) in a kernel inside the sandbox, for the
   outputs the learner sees in the feedback; nothing it prints or does reaches a score.
2. ``TrustedScores``: load the learner's code cells in a fresh sandboxed interpreter, call its functions from the
   named checks in *this* process with the public and the student's hidden inputs, and write each test cell's
   verdict as that cell's output, which nbgrader's ``SaveAutoGrades`` then turns into points as usual.
3. ``CapOutputs``: bound what any output can put into the autograded and feedback notebooks.
"""

from __future__ import annotations

import ast
import functools
import os
import re
import secrets
import shutil
import tempfile
import time
import warnings
from pathlib import Path

from jupyter_client.manager import AsyncKernelManager
from nbclient.exceptions import CellTimeoutError, DeadKernelError
from nbformat.v4 import new_output
from nbgrader.preprocessors import Execute, NbGraderPreprocessor
from nbgrader.utils import is_grade, is_solution
from traitlets import Bool, Float, Integer, Unicode
from traitlets.config import LoggingConfigurable

from .. import sandbox
from ..grading.checks import CHECKS, run_check
from ..grading.context import PUBLIC_SEED, seed_for
from .session import LearnerProcess

COURSE_PACKAGE = Path(__file__).resolve().parents[1]
_MAGIC = re.compile(r"^([ \t]*)([%!].*)$", re.M)


def is_test_cell(cell) -> bool:
    return cell.cell_type == "code" and is_grade(cell) and not is_solution(cell)


def language_of(assignment: str) -> str:
    return "es" if assignment.endswith("-es") else "en"


def checks_in(source: str) -> list[tuple[str, str]]:
    """(check name, function name) for each ``grade("name", fn, ...)`` call in a test cell's trusted source."""
    found = []
    for node in ast.walk(ast.parse(source)):
        if (isinstance(node, ast.Call) and isinstance(node.func, ast.Name) and node.func.id == "grade"
                and len(node.args) >= 2 and isinstance(node.args[0], ast.Constant) and isinstance(node.args[1], ast.Name)):
            found.append((node.args[0].value, node.args[1].id))
    return list(dict.fromkeys(found))


def learner_cells(nb) -> list[tuple[str, str]]:
    """The code the learner's functions may need: every code cell but the tests, magics turned into no-ops."""
    return [(f"<cell {i}>", _MAGIC.sub(r"\1pass  # \2", cell.source))
            for i, cell in enumerate(nb.cells) if cell.cell_type == "code" and not is_test_cell(cell)]


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
                    f"{exc}\nRefusing to run learner code unconfined. Install bubblewrap and grade as root, or pass "
                    "--SandboxPolicy.allow_unsandboxed=True to accept the risk."
                ) from exc
            warnings.warn(f"GRADING WITHOUT A SANDBOX (learner code can read and write what you can): {exc}",
                          stacklevel=2)
            self.log.warning("GRADING WITHOUT A SANDBOX: %s", exc)
            return False


def course_secret(path: Path) -> str:
    """The course's secret: without it, a learner who knows the public check code and their own id could compute
    their hidden inputs in advance and hard-code the answers."""
    if not path.exists():
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()


class TrustedScores(NbGraderPreprocessor):
    """Score every test cell from the named checks it calls, against the learner's code run in a sandbox."""

    call_seconds = Float(10.0, help="Wall-clock limit of one call to a learner's function").tag(config=True)
    load_seconds = Float(20.0, help="Wall-clock limit of one learner cell at load time").tag(config=True)
    secret_file = Unicode(".gradcourse-secret", help="Course secret mixed into every student's hidden inputs "
                          "(relative to the course folder; created on first use)").tag(config=True)

    def preprocess(self, nb, resources):
        meta = resources.get("nbgrader", {})
        student, assignment = meta.get("student", "instructor"), meta.get("assignment", "")
        lang = language_of(assignment)
        hidden_seed = seed_for(f"{course_secret(Path(self.secret_file))}:{student}")
        tests = [cell for cell in nb.cells if is_test_cell(cell)]
        started = time.perf_counter()
        confined = SandboxPolicy(config=self.config).confined()
        with LearnerProcess(call_seconds=self.call_seconds, confined=confined) as learner:
            broken = [r for r in learner.load(learner_cells(nb), self.load_seconds) if not r.ok]
            for cell in tests:
                cell.outputs = self._verdict(cell, learner, lang, hidden_seed)
        self.log.info("Scored %d test cells of %s/%s in %.1f s (%d restarts, %d cells failed to load)",
                      len(tests), student, assignment, time.perf_counter() - started, learner.restarts, len(broken))
        return nb, resources

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
                if not result.passed:
                    return [_error(f"[{name}] {result.message}")]
            lines.append(f"✓ {result.message}\n")
        return [_stream("".join(lines))]


class SandboxedKernelManager(AsyncKernelManager):
    """A kernel that runs inside the sandbox and talks over Unix sockets in a folder shared with it."""

    limits = sandbox.Limits(cpu_seconds=300, wall_seconds=3600, output_bytes=1024**2)

    def __init__(self, **kwargs):
        self._shared = Path(tempfile.mkdtemp(prefix="gradcourse-kernel-"))
        os.chown(self._shared, sandbox.NOBODY, sandbox.NOBODY)  # the kernel creates its sockets here
        super().__init__(transport="ipc", ip=str(self._shared / "kernel"), **kwargs)
        self.connection_file = str(self._shared / "connection.json")

    def write_connection_file(self, **kwargs):
        result = super().write_connection_file(**kwargs)
        os.chown(self.connection_file, sandbox.NOBODY, sandbox.NOBODY)  # private to the kernel (and root)
        return result

    def format_kernel_cmd(self, extra_arguments=None):
        cmd = super().format_kernel_cmd(extra_arguments)
        return sandbox.command(cmd, limits=self.limits, extra_ro=[COURSE_PACKAGE], extra_rw=[self._shared])

    async def _async_cleanup_resources(self, restart: bool = False) -> None:
        await super()._async_cleanup_resources(restart)
        if not restart:
            shutil.rmtree(self._shared, ignore_errors=True)


class SandboxedExecute(Execute):
    """nbgrader's Execute, with the kernel in the sandbox, test cells left to TrustedScores, a notebook deadline."""

    notebook_seconds = Float(120.0, help="Wall-clock limit for the whole notebook").tag(config=True)

    def __init__(self, **kwargs):
        kwargs.setdefault("kernel_manager_class", SandboxedKernelManager)
        super().__init__(**kwargs)

    def preprocess(self, nb, resources, km=None):
        self._stopped = ""
        if not SandboxPolicy(config=self.config).confined():
            self.kernel_manager_class = AsyncKernelManager
        self._deadline = time.monotonic() + self.notebook_seconds
        return super().preprocess(nb, resources, km=km)

    def preprocess_cell(self, cell, resources, index):
        if is_test_cell(cell):
            cell.outputs = []
            return cell, resources
        if cell.cell_type == "code" and time.monotonic() > self._deadline:
            self._stopped = self._stopped or f"the notebook exceeded {self.notebook_seconds:g} s"
        if cell.cell_type == "code" and self._stopped:
            cell.outputs = [_error(f"not run: {self._stopped}")]
            return cell, resources
        try:
            return super().preprocess_cell(cell, resources, index)
        except (DeadKernelError, CellTimeoutError, TimeoutError, RuntimeError) as exc:
            # The learner's notebook killed or wedged its kernel: say so in the feedback and run nothing more.
            # Scores do not depend on this kernel, so nothing else is lost.
            self._stopped = f"an earlier cell {'killed' if isinstance(exc, DeadKernelError) else 'wedged'} the kernel"
            cell.outputs.append(_error(f"{type(exc).__name__}: {exc}"))
            return cell, resources


class CapOutputs(NbGraderPreprocessor):
    """Truncate any output text beyond a byte budget, so one print cannot bloat every notebook it lands in."""

    max_bytes = Integer(20_000, help="Most bytes kept of one output").tag(config=True)

    def preprocess_cell(self, cell, resources, index):
        for output in cell.get("outputs", []):
            if "text" in output:
                output["text"] = _cap(output["text"], self.max_bytes)
            for mime, value in output.get("data", {}).items():
                if isinstance(value, str) and not mime.startswith("image/"):
                    output["data"][mime] = _cap(value, self.max_bytes)
                elif isinstance(value, str) and len(value) > 50 * self.max_bytes:
                    output["data"][mime] = ""
            if "traceback" in output:
                output["traceback"] = [_cap(line, self.max_bytes) for line in output["traceback"][-50:]]
        return cell, resources


def _cap(text, limit: int):
    text = "".join(text) if isinstance(text, list) else text
    return text if len(text) <= limit else text[:limit] + f"\n… [{len(text) - limit} more characters cut]\n"
