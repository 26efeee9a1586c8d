"""The machinery every check shares: the registry, calling the learner's function, comparing, reporting.

The checks themselves live in one module per lab (:mod:`.lab00` ... :mod:`.lab04`), each a named function
registered with :func:`check`.

A check is a pure function of (learner's function, seed, language) -> :class:`Result`. It draws its own inputs
from the seed (:mod:`..draws`: sizes, shapes, scales and offsets, never a fixed list), computes what to expect
with :mod:`..reference` in float64, calls the learner's function on copies, and compares. Every gradient a learner
writes is compared twice: with centred finite differences of its forward (:mod:`..fd`, tolerance ``FD_TOL``) and
with the reference formula (``EXACT_TOL``); the reference itself must agree with the finite differences, or the
check reports a fault of the grader. Results the contract says are float64 must be float64.

The learner's self-check cells call :func:`self_check` with the public seed; the graded cells call :func:`grade`
twice: with the public seed and, in the hidden part, with a seed drawn from the student id.

Each check targets one pitfall and is its own grade cell. ``tests/labs/test_pitfalls.py`` runs the pitfall matrix
(:mod:`..pitfalls`) through them: every wrong implementation must lose points, every honest one keep them all.

Whose fault: a check only ever *calls* ``student`` (through :func:`call`, which turns the learner's exceptions into
:class:`Fail`), and everything it returns goes through the validating helpers of :mod:`..compare` (which turn any
odd value into :class:`Fail`) before the grader computes with it. Any other exception is therefore the grader's
own: :func:`run_check` reports it in :attr:`Result.fault`, never as the learner's failure.

Running checks outside the learner's process: a check only ever calls ``student`` and reads what it returns, plus,
with ``watch``, the arrays it passed in, and for ``backward.*`` the ``.grad`` of the leaves it passed in. A proxy
that ships the arguments over a pipe, calls the learner's function there, and sends back the return value and the
(possibly modified) arguments can therefore stand in for ``student`` without changing any check.
"""
from __future__ import annotations

import contextlib
import functools
import io
import textwrap
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from .. import draws, fd, fingerprint
from ..compare import Fail, GraderFault, NotImplementedYet, as_array, expect_close, expect_float64, expect_shape, fmt
from ...lang import notebook_language, tr
from ..context import PUBLIC_SEED, student_seed

__all__ = ["CHECKS", "Check", "Result", "CheckFailed", "CourseError", "run_check", "grade", "self_check", "unfinished",
           "checks_for", "PUBLIC_SEED", "student_seed", "notebook_language", "PASS", "FAIL", "FAULT"]

# Limits quoted to learners in the lab sources (tests/labs/test_lab_text.py compares the two).
LARGE_LOGIT = draws.LARGE_LOGIT     # logits up to ±1e4 give finite, correct results
FD_STEP = fd.STEP                   # the grader's centred differences use h = 1e-5 ...
FD_TOL = fd.TOL                     # ... and a gradient must agree with them to 1e-7 (absolute and relative)
EXACT_TOL = 1e-10                   # and with the reference formula to 1e-10 (absolute and relative)
LEARNER_FD_TOL = 1e-8               # jacobian_fd / grad_fd agree with the analytic derivative to 1e-8
PLAUSIBLE_TOL = 1e-3                # a no_mutation check wants a plausible result (not garbage); exactness and
                                    # dtype are the business of the other checks


def sci(x: float) -> str:
    """1e4 -> '1e4', 1e-07 -> '1e-7': how the labs write these numbers."""
    mantissa, exponent = f"{x:.0e}".split("e")
    return f"{mantissa}e{int(exponent)}"


BIG, FD, EXACT, LFD = sci(LARGE_LOGIT), sci(FD_TOL), sci(EXACT_TOL), sci(LEARNER_FD_TOL)


@dataclass(frozen=True)
class Check:
    name: str
    stub: str
    points: float
    label: str          # language-neutral, used as the docstring of the grade cell
    title: dict         # {"en": ..., "es": ...}
    fn: Callable


@dataclass(frozen=True)
class Result:
    name: str
    passed: bool
    points: float
    max_points: float
    message: str
    fault: str = ""     # set when the grader itself failed: the submission must not be graded on this result
    pitfall: str = ""   # the pitfall the learner's function reproduces, when the failure names one (fingerprint.py)


# Verdict marks: plain symbols every monospace font has (emoji render as empty boxes without an emoji font).
PASS, FAIL, FAULT = "✓", "✗", "!"
WIDTH = 80  # a graded cell's message is wrapped to this width: `nbgrader validate` cuts longer lines


class _Verdict:
    """A graded cell's failure as IPython shows it: only the verdict, no traceback through the course's code.

    IPython renders an exception that has ``_render_traceback_`` with the lines that method returns, so the error
    output of the cell (what JupyterLab and ``nbgrader validate`` show) is the check's message, wrapped, and
    nothing else. It is still an error output: the cell counts as failed for ``nbgrader validate``."""

    mark = FAIL

    def __init__(self, name: str, message: str):
        super().__init__(f"[{name}] {message}")
        self.check, self.message = name, message

    def lines(self) -> list[str]:
        return textwrap.wrap(f"{self.mark} {self.check}: {self.message}", WIDTH, subsequent_indent="  ",
                             break_on_hyphens=False, break_long_words=False) or [self.mark]

    def _render_traceback_(self) -> list[str]:
        return self.lines()


class CheckFailed(_Verdict, AssertionError):
    """Raised by :func:`grade` when the learner's function fails the check (an AssertionError)."""


class CourseError(_Verdict, RuntimeError):
    """Raised by :func:`grade` when a check could not judge: an internal error of the course."""

    mark = FAULT


CHECKS: dict[str, Check] = {}


def check(name, points, label, en, es):
    def register(fn):
        CHECKS[name] = Check(name, name.split(".")[0], points, label, {"en": en, "es": es}, fn)
        return fn
    return register


def checks_for(stub: str) -> list[Check]:
    return [c for c in CHECKS.values() if c.stub == stub]


@contextlib.contextmanager
def quiet():
    """No warning, floating-point report or stray print escapes a check (nbgrader fails on stderr)."""
    with warnings.catch_warnings(), np.errstate(all="ignore"), \
            contextlib.redirect_stderr(io.StringIO()), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        yield


# ----------------------------------------------------------------------------------- calling the learner

class GraderFunction:
    """A function of the grader's handed to the learner's code (``f`` of ``jacobian_fd``). What the learner passes
    it is validated (a misuse raises in their code, so it is their failure); an exception of the function itself
    is recorded and turned into a fault once the learner's call is over, whatever their code did with it."""

    def __init__(self, fn, shape, name, scalar=False):
        self.fn, self.shape, self.__name__, self.scalar = fn, tuple(shape), name, scalar
        self.fault = ""

    def __call__(self, *args):
        try:
            (v,) = args
            v = np.array(v, dtype=np.float64)
        except Exception:  # noqa: BLE001 - the learner's argument
            raise TypeError(f"{self.__name__} takes one array of numbers of shape {self.shape}") from None
        if v.shape != self.shape:
            raise ValueError(f"{self.__name__} takes an array of shape {self.shape}, not {v.shape}")
        try:
            out = self.fn(v)
            return float(out) if self.scalar else np.array(out, dtype=np.float64)
        except Exception as exc:  # noqa: BLE001 - ours: remembered, reported as a fault after the call
            self.fault = self.fault or f"{self.__name__}: {type(exc).__name__}: {exc}"
            raise


def _grader_failed(args):
    for a in args:
        if isinstance(a, GraderFunction) and a.fault:
            raise GraderFault(f"the grader's {a.fault}")


_exception_text = fingerprint.exception_text   # the learner's exception as one line (its __str__ may fail too)


def call(student, *args, where="", lang="en", hint="", watched=False):
    """Call the learner's function; turn its exceptions into a readable failure (with the pitfall hint). The call
    is recorded for :mod:`..fingerprint` when a check is running; ``watched``: the check judges what the call does
    to the arrays it is given (``run(watch=True)``), so naming a pitfall compares that too."""
    record = fingerprint.before(args, watched)
    try:
        out = student(*args)
    except NotImplementedError:
        _grader_failed(args)
        raise NotImplementedYet(tr(lang, "not implemented yet (the stub raises NotImplementedError).",
                                   "aún sin implementar (la plantilla lanza NotImplementedError).")) from None
    except Exception as exc:  # noqa: BLE001 - any error of the learner's code is a failure
        _grader_failed(args)
        msg = _exception_text(exc)
        fingerprint.raised(record, args, type(exc).__name__, msg)
        raise Fail(tr(lang, f"{where}: your function raised {type(exc).__name__}: {msg}.",
                         f"{where}: tu función lanzó {type(exc).__name__}: {msg}.")
                   + (" " + hint if hint else "")) from None
    _grader_failed(args)
    fingerprint.returned(record, args, out)
    return out


def _copy(a):
    if isinstance(a, np.ndarray):
        return a.copy()
    if isinstance(a, (tuple, list)):
        return type(a)(_copy(x) for x in a)
    return a


def run(student, args, names, lang, where, hint="", watch=False, watch_hint=""):
    """Call ``student`` on copies of ``args``, or, with ``watch``, on the arrays themselves, failing if it changed
    one of them (``names`` name them; None for arguments that are not arrays)."""
    if not watch:
        return call(student, *(_copy(a) for a in args), where=where, lang=lang, hint=hint)
    before = [_copy(a) for a in args]
    out = call(student, *args, where=where, lang=lang, hint=hint, watched=True)
    for name, after, was in zip(names, args, before):
        if name and not (after.shape == was.shape and np.array_equal(after, was)):
            upstream = name in ("grad", "gy", "dC", "ds", "dy", "dO")
            raise Fail(tr(lang, f"{where}: your function changed its argument `{name}`: it was {fmt(was)}, "
                                f"afterwards {fmt(after)}. The caller still needs it"
                                + (" (the same upstream gradient often feeds several parents)" if upstream else "")
                                + ": never write into an argument.",
                          f"{where}: tu función modificó su argumento `{name}`: era {fmt(was)} y quedó {fmt(after)}. "
                          "Quien llama aún lo necesita"
                          + (" (el mismo gradiente entrante suele alimentar a varios padres)" if upstream else "")
                          + ": no escribas nunca en un argumento.") + (" " + watch_hint if watch_hint else ""))
    return out


def learner_array(raw, lang, where, shape=None, hint="", strict=True):
    """A float64 result of the learner's, of ``shape`` if given; a float32 or integer result is dtype drift (not
    ``strict``: any real dtype)."""
    got = as_array(raw, lang, where)
    if strict:
        expect_float64(raw, lang, where)
    if shape is not None:
        expect_shape(got, shape, lang, where, hint)
    return got


def confirmed(want, numeric, where):
    """``want`` (the reference) after comparing it with centred differences of the forward: a disagreement is
    the grader's fault, whatever the learner answered."""
    want, numeric = np.asarray(want, dtype=np.float64), np.asarray(numeric, dtype=np.float64)
    if want.shape != numeric.shape:
        raise GraderFault(f"{where}: the reference has shape {want.shape}, centred differences {numeric.shape}")
    gap = np.abs(want - numeric) - FD_TOL * (1.0 + np.abs(numeric))
    if not np.all(gap <= 0):
        worst = float(np.max(np.abs(want - numeric)))
        raise GraderFault(f"{where}: the reference and centred differences of the forward disagree by {worst:.3g} "
                          f"(more than {FD_TOL:g})")
    return want


def expect_gradient(got, want, numeric, lang, where, hint="", forward="f", atol=EXACT_TOL, rtol=EXACT_TOL,
                    loose=False):
    """A learner's gradient against centred differences of ``forward`` (FD_TOL) and the reference (``atol``), or,
    ``loose``, against both to PLAUSIBLE_TOL. The reference must agree with the differences in any case.
    ``forward`` names the function differenced: code, or an (English, Spanish) pair when it is prose."""
    confirmed(want, numeric, where)
    fd_tol, atol, rtol = (PLAUSIBLE_TOL,) * 3 if loose else (FD_TOL, atol, rtol)
    forward_en, forward_es = forward if isinstance(forward, tuple) else (forward, forward)
    source = (f"centred differences of {forward_en}", f"las diferencias centradas de {forward_es}")
    expect_close(got, numeric, lang, where, hint, atol=fd_tol, rtol=fd_tol, source=source)
    return expect_close(got, want, lang, where, hint, atol=atol, rtol=rtol)


# ----------------------------------------------------------------------------------- running a check

def _fault_text(exc: BaseException) -> str:
    frames = [f for f in traceback.extract_tb(exc.__traceback__) if "gradcourse" in f.filename]
    at = f" at {Path(frames[-1].filename).name}:{frames[-1].lineno}" if frames else ""
    return " ".join(f"{type(exc).__name__}: {exc}{at}".split())


_HINTS = ("hint", "nonfinite_hint", "watch_hint")


def _hint_of(exc: Fail, message: str) -> str:
    """The check's hint at the end of a failure message, or "". Every helper that raises :class:`Fail` appends the
    hint it was given last, from a local named as in ``_HINTS``; reading it from the frame that raised spares each
    helper (and each check) another argument."""
    tb = exc.__traceback__
    while tb is not None and tb.tb_next is not None:
        tb = tb.tb_next
    if tb is None:
        return ""
    hints = [v for k, v in tb.tb_frame.f_locals.items() if k in _HINTS and isinstance(v, str) and v.strip()]
    return max((h for h in hints if message.endswith(" " + h)), key=len, default="")


@functools.lru_cache(maxsize=None)
def first_catch(stub: str, pid: str) -> str:
    """The first check of ``stub`` that the pitfall ``pid`` fails with the public inputs: where the course expects
    that mistake to show, so that check's hint is about it; a later check's hint is about another mistake."""
    fn = fingerprint.implementation(stub, pid)
    for c in checks_for(stub):
        with quiet(), fingerprint.recording():       # the pitfall's calls are not the learner's: not recorded
            try:
                c.fn(fn, np.random.default_rng([PUBLIC_SEED, *c.name.encode()]), "en")
            except Fail:
                return c.name
            except Exception:  # noqa: BLE001 - a check that cannot judge this pitfall does not catch it
                continue
    return ""


def _failure(c: Check, exc: Fail, calls, lang: str) -> tuple[str, str]:
    """The failure message, naming the pitfall the learner's calls reproduce if exactly one does
    (:mod:`..fingerprint`), and that pitfall's id (or "")."""
    message = str(exc)
    if isinstance(exc, NotImplementedYet):
        return message, ""
    try:
        pid = fingerprint.identify(c.stub, calls)
        if not pid:
            return message, ""
        hint = _hint_of(exc, message)
        if hint and first_catch(c.stub, pid) != c.name:
            message = message[: -len(hint)].rstrip()          # that hint points at another mistake
        return f"{message} {fingerprint.sentence(pid, c.stub, lang)}", pid
    except Exception:  # noqa: BLE001 - naming the mistake is extra help: it never costs the learner their verdict
        return str(exc), ""


def run_check(name: str, student, seed: int = PUBLIC_SEED, lang: str = "en") -> Result:
    c = CHECKS[name]
    with quiet(), fingerprint.recording() as calls:
        try:
            rng = np.random.default_rng([seed, *name.encode()])
            c.fn(student, rng, lang)
        except Fail as exc:           # the learner's failure (NotImplementedYet included)
            message, pid = _failure(c, exc, calls, lang)
            return Result(name, False, 0.0, c.points, message, pitfall=pid)
        except Exception as exc:  # noqa: BLE001 - outside the learner's call and their value: the grader's own
            fault = _fault_text(exc)
            msg = tr(lang, f"internal error of the course while checking, not your mistake ({fault}). "
                           "This check could not judge your function; please tell your instructor.",
                     f"error interno del curso durante la comprobación, no es culpa tuya ({fault}). Esta "
                     "comprobación no pudo evaluar tu función; avisa a tu profesor.")
            return Result(name, False, 0.0, c.points, msg, fault)
    return Result(name, True, c.points, c.points, c.title[lang])


def grade(name: str, student, hidden: bool = False, lang: str | None = None) -> None:
    """For grade cells (:mod:`..gradecell`): silent when the check passes, AssertionError with its message when the
    learner's function fails it (:class:`CheckFailed`), CourseError when the check itself failed (not the learner's
    mistake). Both show in a notebook as their message alone, without a traceback. The public inputs, or with
    ``hidden`` the instructor's stand-in for a student's hidden inputs (the autograder draws the real ones outside
    the notebook, from the course secret)."""
    seed = student_seed() if hidden else PUBLIC_SEED
    r = run_check(name, student, seed, lang or notebook_language())
    if r.fault:
        raise CourseError(name, r.message)
    if not r.passed:
        raise CheckFailed(name, r.message)


def self_check(student, lang: str | None = None, seed: int = PUBLIC_SEED) -> None:
    """Print one verdict line per check of ``student`` (public inputs)."""
    lang = lang or notebook_language()
    for c in checks_for(student.__name__):
        r = run_check(c.name, student, seed, lang)
        mark = PASS if r.passed else FAULT if r.fault else FAIL
        print(f"{mark} {c.name} ({fmt(r.points)}/{fmt(c.points)}): {r.message}")


_skipped = []   # examples of this kernel that stopped at an unfinished function


def unfinished(exc: BaseException, lang: str | None = None) -> bool:
    """For a lab's example cells that call the learner's functions (the generator wraps them in ``try``)::

        except (NotImplementedError, NameError) as exc:
            if not unfinished(exc):
                raise

    True, after printing a one-line note, when ``exc`` says the example cannot run yet: a function it calls is
    still the stub (NotImplementedError), or the cell itself names a variable an earlier example did not get to
    define because it stopped at a stub. False for anything else, which the cell then raises as usual: an error in
    a finished function is never hidden. So "Run All" on a half-finished lab goes on to every self-check."""
    lang = lang or notebook_language()
    tb = exc.__traceback__
    if isinstance(exc, NotImplementedError):
        frames = traceback.extract_tb(tb)
        fn = frames[-1].name if frames else "?"
        _skipped.append(fn)
        print(tr(lang, f"(Example skipped: `{fn}` is not written yet; it runs once it is.)",
                 f"(Ejemplo omitido: `{fn}` aún no está escrita; se ejecutará cuando lo esté.)"))
        return True
    if isinstance(exc, NameError) and _skipped and tb is not None and tb.tb_next is None:
        name = getattr(exc, "name", None) or "?"
        print(tr(lang, f"(Example skipped: it needs `{name}`, which an earlier example did not get to define; it "
                       "runs once that one does.)",
                 f"(Ejemplo omitido: necesita `{name}`, que un ejemplo anterior no llegó a definir; se ejecutará "
                 "cuando ese lo haga.)"))
        return True
    return False


def _vec(a):
    return f"z = {fmt(a)}"


def batch_factor(got, want, batch, forgive):
    """B when ``forgive`` and the learner's result is B times the expected one (a sum instead of the batch mean:
    the business of the batch-mean checks, so that a stability check charges stability only), else 1."""
    if forgive and batch > 1 and np.shape(got) == np.shape(want) and np.isfinite(got).all() \
            and np.allclose(got, batch * want, rtol=1e-9, atol=1e-12) and not np.allclose(got, want):
        return batch
    return 1
