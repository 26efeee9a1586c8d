"""Every named check of the labs, in one place.

A check is a pure function of (learner's function, seed, language) -> :class:`Result`. It draws its own inputs
from the seed (:mod:`.draws`: sizes, shapes, scales and offsets, never a fixed list), computes what to expect
with :mod:`.reference` in float64, calls the learner's function on copies, and compares. Every gradient a learner
writes is compared twice: with centred finite differences of its forward (:mod:`.fd`, tolerance ``FD_TOL``) and
with the reference formula (``EXACT_TOL``); the reference itself must agree with the finite differences, or the
check reports a fault of the grader. Results the contract says are float64 must be float64.

The learner's self-check cells call :func:`self_check` with the public seed; the graded cells call :func:`grade`
twice: with the public seed and, in the hidden part, with a seed drawn from the student id.

Each check targets one pitfall and is its own grade cell. ``tests/labs/test_pitfalls.py`` runs the pitfall matrix
(:mod:`.pitfalls`) through them: every wrong implementation must lose points, every honest one keep them all.

Whose fault: a check only ever *calls* ``student`` (through :func:`call`, which turns the learner's exceptions into
:class:`Fail`), and everything it returns goes through the validating helpers of :mod:`.compare` (which turn any
odd value into :class:`Fail`) before the grader computes with it. Any other exception is therefore the grader's
own: :func:`run_check` reports it in :attr:`Result.fault`, never as the learner's failure.

Running checks outside the learner's process: a check only ever calls ``student`` and reads what it returns, plus,
with ``watch``, the arrays it passed in, and for ``backward.*`` the ``.grad`` of the leaves it passed in. A proxy
that ships the arguments over a pipe, calls the learner's function there, and sends back the return value and the
(possibly modified) arguments can therefore stand in for ``student`` without changing any check.
"""
from __future__ import annotations

import contextlib
import io
import itertools
import textwrap
import traceback
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from . import draws, fd
from . import reference as ref
from .compare import (Fail, GraderFault, NotImplementedYet, as_array, expect_close, expect_float64, expect_scalar,
                      expect_sequence, expect_shape, fmt, tr)
from .context import PUBLIC_SEED, notebook_language, student_seed

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


def _exception_text(exc):
    """The learner's exception as one line (its __str__ is theirs too, and may fail)."""
    try:
        return " ".join(str(exc).split())[:500]
    except Exception:  # noqa: BLE001
        return "(a message that cannot be printed)"


def call(student, *args, where="", lang="en", hint=""):
    """Call the learner's function; turn its exceptions into a readable failure (with the pitfall hint)."""
    try:
        out = student(*args)
    except NotImplementedError:
        _grader_failed(args)
        raise NotImplementedYet(tr(lang, "not implemented yet (the stub raises NotImplementedError).",
                                   "aún sin implementar (la plantilla lanza NotImplementedError).")) from None
    except Exception as exc:  # noqa: BLE001 - any error of the learner's code is a failure
        _grader_failed(args)
        msg = _exception_text(exc)
        raise Fail(tr(lang, f"{where}: your function raised {type(exc).__name__}: {msg}.",
                         f"{where}: tu función lanzó {type(exc).__name__}: {msg}.")
                   + (" " + hint if hint else "")) from None
    _grader_failed(args)
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
    out = call(student, *args, where=where, lang=lang, hint=hint)
    for name, after, was in zip(names, args, before):
        if name and not (after.shape == was.shape and np.array_equal(after, was)):
            upstream = name in ("grad", "gy", "dC", "ds")
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


def run_check(name: str, student, seed: int = PUBLIC_SEED, lang: str = "en") -> Result:
    c = CHECKS[name]
    with quiet():
        try:
            rng = np.random.default_rng([seed, *name.encode()])
            c.fn(student, rng, lang)
        except Fail as exc:           # the learner's failure (NotImplementedYet included)
            return Result(name, False, 0.0, c.points, str(exc))
        except Exception as exc:  # noqa: BLE001 - outside the learner's call and their value: the grader's own
            fault = _fault_text(exc)
            msg = tr(lang, f"internal error of the course while checking, not your mistake ({fault}). "
                           "This check could not judge your function; please tell your instructor.",
                     f"error interno del curso durante la comprobación, no es culpa tuya ({fault}). Esta "
                     "comprobación no pudo evaluar tu función; avisa a tu profesor.")
            return Result(name, False, 0.0, c.points, msg, fault)
    return Result(name, True, c.points, c.points, c.title[lang])


def grade(name: str, student, seed: int = PUBLIC_SEED, lang: str | None = None) -> None:
    """For grade cells: silent when the check passes, AssertionError with its message when the learner's function
    fails it (:class:`CheckFailed`), CourseError when the check itself failed (not the learner's mistake). Both show in
    a notebook as their message alone, without a traceback."""
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


# =========================== lab 00: softmax and cross-entropy ===========================

SEED_LOGITS = np.array([2.0, 1.0, 0.5, -1.0, 0.0])     # z0 of lab 00


def _softmax_hint(lang):
    return tr(lang, "Pitfall: each row of softmax must sum to 1.",
              "Error típico: cada fila de la softmax debe sumar 1.")


def _softmax_case(student, lang, z, hint, watch=False):
    where = f"softmax({_vec(z)})"
    got = learner_array(run(student, (z,), ("z",), lang, where, hint, watch), lang, where, z.shape, hint)
    want = ref.softmax(z)
    if z.ndim == 2 and not np.isfinite(got).all() and np.isfinite(want).all():
        hint = tr(lang, "Some rows came out as nan or inf: subtract each row's own max (axis=-1, keepdims=True); "
                        "a row far below the max of the whole array underflows to 0 / 0.",
                  "Algunas filas salen nan o inf: resta el máximo de cada fila (axis=-1, keepdims=True); una fila "
                  "muy por debajo del máximo de todo el array se anula y da 0 / 0.")
    expect_close(got, want, lang, where, hint, atol=EXACT_TOL, rtol=EXACT_TOL)


@check("softmax.values", 1, "softmax(z), z of shape (N,), float64",
       "values match p_i = exp(z_i) / sum_k exp(z_k) for (N,) logits (integers too), as float64",
       "los valores coinciden con p_i = exp(z_i) / sum_k exp(z_k) para logits (N,) (también enteros), en float64")
def check_softmax_values(student, rng, lang):
    n = draws.size(rng, 2, 8)
    for z in (SEED_LOGITS, draws.logits(rng, (n,)), draws.logits(rng, (n,)),
              draws.integer_logits(rng, (draws.size(rng, 1, 8),)), draws.logits(rng, (1,))):
        _softmax_case(student, lang, z, _softmax_hint(lang))


@check("softmax.batch", 1, "softmax(z), z of shape (B, N)",
       "a (B, N) batch is normalised row by row (last axis)",
       "un lote (B, N) se normaliza fila a fila (último eje)")
def check_softmax_batch(student, rng, lang):
    hint = tr(lang, "Pitfall: softmax works along the last axis (axis=-1, keepdims=True); "
                    "did you normalise over axis 0 or over the whole array?",
              "Error típico: la softmax actúa sobre el último eje (axis=-1, keepdims=True); "
              "¿normalizaste sobre el eje 0 o sobre todo el array?")
    k = draws.size(rng, 2, 6)
    for shape in (draws.sizes(rng, 2, 2, 7), (k, k)):
        _softmax_case(student, lang, draws.logits(rng, shape), hint)


@check("softmax.large_logits", 1, f"softmax(z), |z| up to {BIG}, rows at very different offsets",
       f"finite and correct for logits up to ±{BIG}, also when the rows of a batch sit far apart",
       f"finita y correcta con logits de hasta ±{BIG}, también si las filas de un lote están muy separadas")
def check_softmax_large_logits(student, rng, lang):
    cases = [np.array([1000.0, 0.0, -1000.0]), np.array([1e4, 1e4 - 1.0, -1e4]),
             np.array([-1e4, -1e4 + 2.0, -1e4 + 1.0]), draws.huge_logits(rng, (draws.size(rng, 2, 7),)),
             draws.huge_logits(rng, (draws.size(rng, 2, 5), draws.size(rng, 2, 6)))]
    for z in cases:
        hint = tr(lang, f"Overflow/underflow at z = {fmt(z.max())}: did you subtract max(z) before exp?",
                  f"Desbordamiento o subdesbordamiento con z = {fmt(z.max())}: ¿restaste max(z) antes de exp?")
        _softmax_case(student, lang, z, hint)


@check("softmax.no_mutation", 1, "softmax(z) leaves z unchanged",
       "the input array is left unchanged (and the result is about right)",
       "el array de entrada queda intacto (y el resultado es aproximadamente correcto)")
def check_softmax_no_mutation(student, rng, lang):
    hint = tr(lang, "Pitfall: in-place `z -= z.max()`; write `z = z - z.max(...)`.",
              "Error típico: `z -= z.max()` modifica z in situ; escribe `z = z - z.max(...)`.")
    z = draws.logits(rng, (draws.size(rng, 2, 7),))
    where = f"softmax({_vec(z)})"
    got = run(student, (z,), ("z",), lang, where, watch=True, watch_hint=hint)
    expect_close(learner_array(got, lang, where, z.shape, strict=False), ref.softmax(z), lang, where,
                 atol=PLAUSIBLE_TOL, rtol=PLAUSIBLE_TOL)


def _softmax_jacobian_case(student, lang, z, hint="", watch=False, shifted=False):
    where = f"softmax_jacobian({_vec(z)})"
    n = z.shape[0]
    got = learner_array(run(student, (z,), ("z",), lang, where, hint, watch), lang, where, (n, n), strict=not watch)
    want = ref.softmax_jacobian(z)
    numeric = fd.jacobian(ref.softmax, z - z.max() if shifted else z)   # softmax cannot tell z from z - max(z)
    if not hint:
        hint = tr(lang, "The diagonal is p_i (1 - p_i) and the off-diagonal entries -p_i p_j.",
                  "La diagonal es p_i (1 - p_i) y fuera de ella -p_i p_j.")
        if np.isfinite(got).all() and not np.allclose(got, got.T, atol=1e-12):
            hint = tr(lang, "Your matrix is not symmetric, but diag(p) - p p^T is: check the indices.",
                      "Tu matriz no es simétrica y diag(p) - p p^T sí lo es: revisa los índices.")
    expect_gradient(got, want, numeric, lang, where, hint, forward="softmax", loose=watch)


@check("softmax_jacobian.values", 2, "softmax_jacobian(z) vs centred differences and diag(p) - p p^T",
       f"matches centred differences of softmax to {FD} and diag(p) - p p^T to {EXACT}, as float64",
       f"coincide con las diferencias centradas de la softmax hasta {FD} y con diag(p) - p p^T hasta {EXACT}, "
       "en float64")
def check_softmax_jacobian_values(student, rng, lang):
    n = draws.size(rng, 2, 7)
    for z in (SEED_LOGITS, draws.logits(rng, (n,)), draws.logits(rng, (n,)),
              draws.integer_logits(rng, (draws.size(rng, 2, 6),)), draws.logits(rng, (1,))):
        _softmax_jacobian_case(student, lang, z)


@check("softmax_jacobian.large_logits", 1, f"softmax_jacobian(z), |z| up to {BIG}",
       f"finite and correct for logits up to ±{BIG}", f"finita y correcta con logits de hasta ±{BIG}")
def check_softmax_jacobian_large_logits(student, rng, lang):
    for z in (np.array([1e4, 1e4 - 1.0, -1e4]), draws.huge_logits(rng, (draws.size(rng, 2, 6),)),
              draws.huge_logits(rng, (draws.size(rng, 2, 6),))):
        hint = tr(lang, f"Overflow at z = {fmt(z.max())}: compute p with the max subtracted (or reuse your softmax).",
                  f"Desbordamiento con z = {fmt(z.max())}: calcula p restando el máximo (o usa tu softmax).")
        _softmax_jacobian_case(student, lang, z, hint, shifted=True)


@check("softmax_jacobian.no_mutation", 1, "softmax_jacobian(z) leaves z unchanged",
       "z is left unchanged (and the result is about right)", "z queda intacto (y el resultado es aproximadamente correcto)")
def check_softmax_jacobian_no_mutation(student, rng, lang):
    z = draws.logits(rng, (draws.size(rng, 2, 7),))
    _softmax_jacobian_case(student, lang, z, watch=True)


def _fd_hint(got, f, z, h, lang, want):
    forward = np.stack([(np.asarray(f(z + h * e)) - np.asarray(f(z))) / h for e in np.eye(z.size)], -1)
    if got.shape == forward.shape and np.allclose(got, forward, atol=1e-9):
        return tr(lang, f"Your numbers match forward differences (error ~h = {h:g}). "
                        "Use centred differences: (f(z + h) - f(z - h)) / 2h, error ~h².",
                  f"Tus números coinciden con diferencias hacia delante (error ~h = {h:g}). "
                  "Usa diferencias centradas: (f(z + h) - f(z - h)) / 2h, error ~h².")
    square = want.shape[0] == want.shape[1]
    if got.shape == want.shape[::-1] and np.isfinite(got).all() and np.allclose(got.T, want, atol=1e-6) \
            and not (square and np.allclose(want, want.T)):
        return tr(lang, "Your matrix looks transposed: J[i, j] = ∂f_i/∂z_j (column j moves z_j).",
                  "Tu matriz parece traspuesta: J[i, j] = ∂f_i/∂z_j (la columna j mueve z_j).")
    return tr(lang, "Centred differences with h = 1e-5 agree to ~1e-10 in float64; "
                    "a much smaller h (1e-12) suffers catastrophic cancellation.",
              "Con h = 1e-5 las diferencias centradas aciertan hasta ~1e-10 en float64; "
              "un h mucho menor (1e-12) sufre cancelación catastrófica.")


def _test_map(z):
    return np.array([np.sin(z).sum(), (z ** 3)[0] * z[-1], np.exp(z[1] / 3.0)])


def _test_map_jac(z):
    J = np.zeros((3, z.size))
    J[0] = np.cos(z)
    J[1, 0] += 3 * z[0] ** 2 * z[-1]
    J[1, -1] += z[0] ** 3
    J[2, 1] = np.exp(z[1] / 3.0) / 3.0
    return J


def _jacobian_fd_case(student, lang, name, f, z, jac, watch=False):
    where = f"jacobian_fd({name}, {_vec(z)})"
    grader_f = GraderFunction(f, z.shape, name)
    raw = run(student, (grader_f, z), (None, "z"), lang, where, watch=watch,
              watch_hint=tr(lang, "Pitfall: nudging z[j] in place and undoing it does not give back the same "
                                  "floats; perturb a copy.",
                            "Error típico: desplazar z[j] in situ y luego deshacer el cambio no devuelve "
                            "exactamente los mismos números; perturba una copia."))
    want = jac(np.asarray(z, dtype=np.float64))
    got = learner_array(raw, lang, where, strict=not watch)
    zf = np.asarray(z, dtype=np.float64)
    tol = PLAUSIBLE_TOL if watch else LEARNER_FD_TOL
    expect_close(got, want, lang, where, _fd_hint(got, f, zf, FD_STEP, lang, want), atol=tol, rtol=tol)


@check("jacobian_fd.centred", 1, "jacobian_fd(f, z) vs analytic Jacobians",
       f"centred-difference Jacobian agrees with the analytic one to {LFD}, as float64 (also for integer z)",
       f"la jacobiana por diferencias centradas coincide con la analítica hasta {LFD}, en float64 "
       "(también con z entero)")
def check_jacobian_fd_centred(student, rng, lang):
    n = int(rng.choice([2, 4, 5, 6]))                       # the test map has 3 outputs: a non-square Jacobian
    cases = [("softmax", ref.softmax, SEED_LOGITS, ref.softmax_jacobian),
             ("softmax", ref.softmax, draws.logits(rng, (draws.size(rng, 2, 6),), offset=5), ref.softmax_jacobian),
             ("f", _test_map, rng.normal(0, 1, n), _test_map_jac),
             ("f", _test_map, rng.normal(0, 1, n), _test_map_jac),
             ("f", _test_map, draws.integer_logits(rng, (n,)) // 3, _test_map_jac)]
    for name, f, z, jac in cases:
        _jacobian_fd_case(student, lang, name, f, z, jac)


@check("jacobian_fd.no_mutation", 1, "jacobian_fd(f, z) leaves z unchanged",
       "z is left unchanged (and the result is about right)", "z queda intacto (y el resultado es aproximadamente correcto)")
def check_jacobian_fd_no_mutation(student, rng, lang):
    _jacobian_fd_case(student, lang, "f", _test_map, rng.normal(0, 1.5, 12), _test_map_jac, watch=True)


def _scalar_test(z):
    return float(np.sum(np.sin(z) * z) + 0.5 * z[0] ** 3)


def _scalar_test_grad(z):
    g = np.cos(z) * z + np.sin(z)
    g[0] += 1.5 * z[0] ** 2
    return g


def _grad_fd_case(student, lang, name, f, z, grad, watch=False):
    where = f"grad_fd({name}, {_vec(z)})"
    grader_f = GraderFunction(f, z.shape, name, scalar=True)
    raw = run(student, (grader_f, z), (None, "z"), lang, where, watch=watch,
              watch_hint=tr(lang, "Pitfall: nudging z[j] in place and undoing it does not give back the same "
                                  "floats; perturb a copy.",
                            "Error típico: desplazar z[j] in situ y luego deshacer el cambio no devuelve "
                            "exactamente los mismos números; perturba una copia."))
    zf = np.asarray(z, dtype=np.float64)
    want = grad(zf)
    got = learner_array(raw, lang, where, strict=not watch)
    hint = _fd_hint(got[None] if got.ndim == 1 else got, lambda v: np.atleast_1d(f(v)), zf, FD_STEP, lang,
                    want[None])
    tol = PLAUSIBLE_TOL if watch else LEARNER_FD_TOL
    expect_close(got, want, lang, where, hint, atol=tol, rtol=tol)


@check("grad_fd.centred", 1, "grad_fd(f, z) vs analytic gradients",
       f"centred-difference gradient agrees with the analytic one to {LFD}, as float64 (also for integer z)",
       f"el gradiente por diferencias centradas coincide con el analítico hasta {LFD}, en float64 "
       "(también con z entero)")
def check_grad_fd_centred(student, rng, lang):
    n = draws.size(rng, 2, 6)
    y = int(rng.integers(0, 5))
    cases = [(f"ce_loss(., {y})", lambda v: ref.ce_loss(v, y), SEED_LOGITS, lambda v: ref.ce_grad(v, y)),
             ("f", _scalar_test, rng.normal(0, 1, n), _scalar_test_grad),
             ("f", _scalar_test, rng.normal(0, 1, n), _scalar_test_grad),
             ("f", _scalar_test, draws.integer_logits(rng, (n,)) // 3, _scalar_test_grad)]
    for name, f, z, grad in cases:
        _grad_fd_case(student, lang, name, f, z, grad)


@check("grad_fd.no_mutation", 1, "grad_fd(f, z) leaves z unchanged",
       "z is left unchanged (and the result is about right)", "z queda intacto (y el resultado es aproximadamente correcto)")
def check_grad_fd_no_mutation(student, rng, lang):
    _grad_fd_case(student, lang, "f", _scalar_test, rng.normal(0, 1.5, 12), _scalar_test_grad, watch=True)


def _ce_loss_case(student, lang, z, y, hint="", watch=False, atol=EXACT_TOL):
    where = f"ce_loss({_vec(z)}, y={y})"
    raw = run(student, (z, y), ("z", None), lang, where, hint, watch)
    got = expect_scalar(raw, lang, where, tr(lang, "The loss is -log p_y for the one class y.",
                                             "La pérdida es -log p_y de la clase y."))
    if watch:
        atol = PLAUSIBLE_TOL
    else:
        expect_float64(raw, lang, where)
    expect_close(got, ref.ce_loss(z, y), lang, where, hint, atol=atol, rtol=atol if watch else EXACT_TOL)


@check("ce_loss.values", 1, "ce_loss(z, y), moderate logits, float64",
       "-log softmax(z)[y] for moderate logits (integers too), as a float64 number",
       "-log softmax(z)[y] con logits moderados (también enteros), como número float64")
def check_ce_loss_values(student, rng, lang):
    n = draws.size(rng, 2, 8)
    zi = draws.integer_logits(rng, (draws.size(rng, 2, 6),))
    for z, y in ((SEED_LOGITS, 0), (draws.logits(rng, (n,)), int(rng.integers(0, n))),
                 (draws.logits(rng, (n,)), int(rng.integers(0, n))), (zi, int(rng.integers(0, zi.size)))):
        _ce_loss_case(student, lang, z, y)


@check("ce_loss.underflow", 2, "ce_loss(z, y) where softmax(z)[y] underflows to 0",
       f"finite where softmax(z)[y] underflows to 0 and for logits up to ±{BIG} (log-sum-exp form)",
       f"finita aunque softmax(z)[y] se anule y con logits de hasta ±{BIG} (forma log-sum-exp)")
def check_ce_loss_underflow(student, rng, lang):
    far = draws.huge_logits(rng, (draws.size(rng, 3, 7),))
    far = far if far.mean() > 0 else -far                  # a row near +1e4 and, below, one far smaller logit
    near = draws.huge_logits(rng, (draws.size(rng, 2, 7),))
    cases = [(np.array([0.0, -800.0, 5.0]), 1), (np.array([1e4, 0.0, -1e4]), 2),
             (np.concatenate([far, [far.max() - draws.log_uniform(rng, 800, 5000)]]), far.size),
             (near, int(rng.integers(0, near.size)))]
    for z, y in cases:
        hint = tr(lang, f"softmax(z)[{y}] underflows to 0 and log(0) = -inf (or exp overflows): "
                        "did you use np.log(softmax(z))? Use -z[y] + logsumexp(z).",
                  f"softmax(z)[{y}] se anula y log(0) = -inf (o exp se desborda): ¿usaste np.log(softmax(z))? "
                  "Usa -z[y] + logsumexp(z).")
        _ce_loss_case(student, lang, z, y, hint, atol=1e-8)


@check("ce_loss.no_mutation", 1, "ce_loss(z, y) leaves z unchanged",
       "z is left unchanged (and the result is about right)", "z queda intacto (y el resultado es aproximadamente correcto)")
def check_ce_loss_no_mutation(student, rng, lang):
    n = draws.size(rng, 2, 8)
    _ce_loss_case(student, lang, draws.logits(rng, (n,)), int(rng.integers(0, n)), watch=True)


def _ce_grad_case(student, lang, z, y, hint_fn, watch=False, shifted=False):
    batch = z.ndim == 2
    where = f"ce_grad({_vec(z)}, y={fmt(y)})"
    got = learner_array(run(student, (z, y), ("z", "y" if batch else None), lang, where, watch=watch),
                        lang, where, z.shape, strict=not watch)
    want = ref.ce_grad(z, y)
    at = z - z.max(axis=-1, keepdims=True) if shifted else z          # the loss cannot tell z from z - max
    loss = (lambda v: ref.cross_entropy(v, y)) if batch else (lambda v: ref.ce_loss(v, y))
    numeric = fd.gradient(loss, at)
    confirmed(want, numeric, where)
    factor = _batch_factor(got, want, len(z) if batch else 1, forgive=shifted)
    expect_gradient(got, factor * want, factor * numeric, lang, where, hint_fn(got, want),
                    forward=("the mean ce_loss", "la ce_loss media") if batch else "ce_loss", loose=watch)


def _ce_grad_hint(lang):
    def hint(got, want):
        if want.ndim == 2 and np.allclose(got, want.shape[0] * want, atol=1e-9):
            B = want.shape[0]
            return tr(lang, f"Your gradient is B = {B} times too large: the batch loss is a mean, divide by B.",
                      f"Tu gradiente es B = {B} veces el esperado: la pérdida del lote es una media, divide "
                      "entre B.")
        return tr(lang, "Expected softmax(z) - one_hot(y) (divided by B for a batch): subtract 1 at index y only.",
                  "Se esperaba softmax(z) - one_hot(y) (dividido entre B en un lote): resta 1 solo en el índice y.")
    return hint


@check("ce_grad.values", 1, "ce_grad(z, y) vs centred differences of ce_loss",
       "softmax(z) - one_hot(y), confirmed by centred differences, as float64 (integer logits too)",
       "softmax(z) - one_hot(y), confirmado con diferencias centradas, en float64 (también con logits enteros)")
def check_ce_grad_values(student, rng, lang):
    n = draws.size(rng, 2, 8)
    zi = draws.integer_logits(rng, (draws.size(rng, 2, 6),))
    for z, y in ((SEED_LOGITS, 0), (draws.logits(rng, (n,)), int(rng.integers(0, n))),
                 (draws.logits(rng, (n,)), int(rng.integers(0, n))), (zi, int(rng.integers(0, zi.size)))):
        _ce_grad_case(student, lang, z, y, _ce_grad_hint(lang))


@check("ce_grad.batch", 1, "ce_grad(Z, y), Z of shape (B, N)",
       "(B, N) batch: gradient of the mean loss, (softmax - one_hot) / B",
       "lote (B, N): gradiente de la pérdida media, (softmax - one_hot) / B")
def check_ce_grad_batch(student, rng, lang):
    k = draws.size(rng, 2, 6)
    for (B, N), dtype in ((draws.sizes(rng, 2, 2, 7), np.int64), ((k, k), np.int32)):
        _ce_grad_case(student, lang, draws.logits(rng, (B, N)), draws.labels(rng, B, N, dtype), _ce_grad_hint(lang))


@check("ce_grad.stability", 1, f"ce_grad, |z| up to {BIG}, rows at very different offsets",
       f"finite and correct for logits up to ±{BIG}, one example or a batch",
       f"finito y correcto con logits de hasta ±{BIG}, con un ejemplo o con un lote")
def check_ce_grad_stability(student, rng, lang):
    def hint(got, want):
        return tr(lang, "Overflow: subtract each row's max before exp (axis=-1, keepdims=True), or use "
                        "exp(z - logsumexp(z)); a max over the whole array leaves rows far below it at 0 / 0.",
                  "Desbordamiento: resta el máximo de cada fila antes de exp (axis=-1, keepdims=True) o usa "
                  "exp(z - logsumexp(z)); con un máximo de todo el array, las filas que quedan muy por debajo "
                  "dan 0 / 0.")
    n = draws.size(rng, 2, 7)
    B, N = draws.size(rng, 2, 5), draws.size(rng, 2, 6)
    for z, y in ((np.array([1e4, 0.0, -1e4]), 0), (draws.huge_logits(rng, (n,)), int(rng.integers(0, n))),
                 (draws.huge_logits(rng, (B, N)), draws.labels(rng, B, N))):
        _ce_grad_case(student, lang, z, y, hint, shifted=True)


@check("ce_grad.no_mutation", 1, "ce_grad(z, y) leaves z unchanged",
       "z is left unchanged (and the result is about right)", "z queda intacto (y el resultado es aproximadamente correcto)")
def check_ce_grad_no_mutation(student, rng, lang):
    n = draws.size(rng, 2, 7)
    _ce_grad_case(student, lang, draws.logits(rng, (n,)), int(rng.integers(0, n)), _ce_grad_hint(lang), watch=True)


# =========================== lab 01: two-layer network ===========================

def _two_layer_inputs(rng, active):
    """W1 (h, n), W2 (m, h), x (n,), gy (m,): with every hidden unit on, or with at least two on and two off; no
    pre-activation closer to 0 than 0.05, so that no finite-difference step crosses relu's kink."""
    n = draws.size(rng, 2, 5)
    h = int(rng.choice([k for k in range(4, 8) if k != n]))
    m = draws.size(rng, 1, 4)
    scale = draws.log_uniform(rng, 0.3, 3.0)
    while True:
        if active:
            x = rng.uniform(0.5, 1.5, n) * scale
            W1 = rng.uniform(0.1, 1.0, (h, n))
        else:
            x, W1 = rng.normal(0, scale, n), rng.normal(0, 1, (h, n))
        z1 = W1 @ x
        if np.abs(z1).min() > 0.05 and (active or ((z1 > 0).sum() >= 2 and (z1 < 0).sum() >= 2)):
            break
    return W1, rng.normal(0, 1, (m, h)), x, rng.normal(0, 1, m)


def _two_layer_loss(W1, W2, x, gy):
    return float(gy @ (W2 @ np.maximum(W1 @ x, 0.0)))


def _two_layer_call(student, args, lang, watch=False):
    W1, W2, x, gy = args
    where = f"two_layer_grads(W1, W2, x, gy), W1 {W1.shape}, W2 {W2.shape}, x {x.shape}, gy {gy.shape}"
    raw = run(student, args, ("W1", "W2", "x", "gy"), lang, where, watch=watch)
    out = expect_sequence(raw, 3, lang, where, "the tuple (dW1, dW2, dx)", "la tupla (dW1, dW2, dx)")
    got = [learner_array(o, lang, f"{where}: {name}", strict=not watch) for o, name in zip(out, ("dW1", "dW2", "dx"))]
    numeric = [fd.gradient(lambda v, i=i: _two_layer_loss(*args[:i], v, *args[i + 1:]), args[i]) for i in range(3)]
    return where, got, ref.two_layer_grads(*args), numeric


def _dW2_hint(lang):
    return tr(lang, "dW2 is the outer product of gy with the activation a1 = relu(z1), not with z1.",
              "dW2 es el producto exterior de gy con la activación a1 = relu(z1), no con z1.")


@check("two_layer_grads.dW2", 1, "two_layer_grads: dW2",
       "dW2 = gy a1^T, with a1 = relu(W1 x), confirmed by centred differences; every result float64",
       "dW2 = gy a1^T, con a1 = relu(W1 x), confirmado con diferencias centradas; todos los resultados en float64")
def check_two_layer_grads_dW2(student, rng, lang):
    args = _two_layer_inputs(rng, active=False)
    for a in (args, tuple(rng.normal(0, 1, v.shape) if i == 3 else v for i, v in enumerate(args))):
        where, got, want, numeric = _two_layer_call(student, a, lang)
        expect_gradient(got[1], want[1], numeric[1], lang, where + ": dW2", _dW2_hint(lang), "L = <gy, y>")


@check("two_layer_grads.active", 2, "two_layer_grads: dW1, dx with every unit active",
       "dW1 = g1 x^T and dx = W1^T g1 (every hidden unit active), confirmed by centred differences",
       "dW1 = g1 x^T y dx = W1^T g1 (todas las unidades ocultas activas), confirmado con diferencias centradas")
def check_two_layer_grads_active(student, rng, lang):
    where, got, want, numeric = _two_layer_call(student, _two_layer_inputs(rng, active=True), lang)
    hint = tr(lang, "dW1 has the shape of W1, (hidden, inputs): the outer product g1 x^T, in that order.",
              "dW1 tiene la forma de W1, (ocultas, entradas): el producto exterior g1 x^T, en ese orden.")
    expect_gradient(got[0], want[0], numeric[0], lang, where + ": dW1", hint, "L = <gy, y>")
    expect_gradient(got[2], want[2], numeric[2], lang, where + ": dx", "", "L = <gy, y>")


@check("two_layer_grads.relu_mask", 2, "two_layer_grads: relu mask",
       "inactive hidden units (z1 <= 0) pass no gradient to dW1 and dx",
       "las unidades ocultas inactivas (z1 <= 0) no pasan gradiente a dW1 ni a dx")
def check_two_layer_grads_relu_mask(student, rng, lang):
    args = _two_layer_inputs(rng, active=False)
    where, (dW1, _, dx), want, numeric = _two_layer_call(student, args, lang)
    hint = tr(lang, "Multiply W2^T gy element-wise by relu'(z1) = (z1 > 0) before going further back.",
              "Multiplica W2^T gy elemento a elemento por relu'(z1) = (z1 > 0) antes de seguir hacia atrás.")
    expect_gradient(dx, want[2], numeric[2], lang, where + ": dx", hint, "L = <gy, y>")
    if dW1.shape == want[0].shape:     # a wrong shape is the business of two_layer.active
        off = args[0] @ args[2] <= 0
        expect_gradient(dW1[off], want[0][off], numeric[0][off], lang, where + ": dW1[z1 <= 0]", hint, "L = <gy, y>")


@check("two_layer_grads.no_mutation", 1, "two_layer_grads leaves W1, W2, x, gy unchanged",
       "W1, W2, x and gy are left unchanged (and dW2 is about right)",
       "W1, W2, x y gy quedan intactos (y dW2 es aproximadamente correcto)")
def check_two_layer_grads_no_mutation(student, rng, lang):
    where, got, want, numeric = _two_layer_call(student, _two_layer_inputs(rng, active=False), lang, watch=True)
    expect_gradient(got[1], want[1], numeric[1], lang, f"{where}: dW2", "", "L = <gy, y>", loose=True)


# =========================== lab 02: broadcasting reverse ===========================

ARG_SHAPES = [(), (4,), (3, 4), (1, 4), (3, 1), (1, 1), (2, 3, 4), (2, 1, 4), (5, 2, 3, 4)]


def arg_pairs():
    """(target shape, broadcast shape) for every pair of ARG_SHAPES that broadcasts (HIPS/autograd)."""
    for a, b in itertools.product(ARG_SHAPES, repeat=2):
        try:
            yield a, tuple(np.broadcast_shapes(a, b))
        except ValueError:
            continue


def _unbroadcast_cases(kind):
    seen = []
    for target, full in arg_pairs():
        extra = len(full) - len(target)
        has_one = any(n == 1 and full[extra + i] != 1 for i, n in enumerate(target))
        if kind == "leading" and not has_one and extra > 0 or kind == "ones" and has_one and extra <= 1:
            if (target, full) not in seen:
                seen.append((target, full))
    return seen


def _unbroadcast_case(student, rng, lang, target, full, hint, watch=False):
    g = rng.normal(0, 1, full)
    where = f"unbroadcast(grad, {target}), grad.shape = {full}"
    got = learner_array(run(student, (g, target), ("grad", None), lang, where, hint, watch), lang, where,
                        strict=not watch)
    a = rng.normal(0, 1, target)
    numeric = fd.gradient(lambda v: np.sum(g * np.broadcast_to(v, full)), a)
    expect_gradient(got, ref.unbroadcast(g, target), numeric, lang, where, hint, forward="sum(grad * broadcast(a))",
                    loose=watch)


def _run_unbroadcast(student, rng, lang, kind, hint):
    cases = _unbroadcast_cases(kind) + [draws.broadcast_case(rng, kind, max_ndim=4) for _ in range(3)]
    for target, full in cases:
        _unbroadcast_case(student, rng, lang, target, full, hint)


@check("unbroadcast.leading_axes", 2, "unbroadcast: extra leading axes, scalar ()",
       "sums away extra leading axes, including down to the scalar shape (); float64",
       "suma los ejes iniciales sobrantes, también hasta la forma escalar (); en float64")
def check_unbroadcast_leading_axes(student, rng, lang):
    hint = tr(lang, "Pitfall: sum over every extra leading axis (there can be more than one) "
                    "until grad.ndim == len(shape).",
              "Error típico: suma sobre todos los ejes iniciales sobrantes (puede haber más de uno) "
              "hasta que grad.ndim == len(shape).")
    _run_unbroadcast(student, rng, lang, "leading", hint)


@check("unbroadcast.size_one_axes", 2, "unbroadcast: size-1 axes",
       "sums size-1 axes of the target with keepdims=True",
       "suma los ejes de tamaño 1 del destino con keepdims=True")
def check_unbroadcast_size_one_axes(student, rng, lang):
    hint = tr(lang, "Pitfall: a size-1 axis of the target must stay, as size 1: sum(axis=i, keepdims=True).",
              "Error típico: un eje de tamaño 1 del destino debe quedarse con tamaño 1: "
              "sum(axis=i, keepdims=True).")
    _run_unbroadcast(student, rng, lang, "ones", hint)


@check("unbroadcast.no_mutation", 1, "unbroadcast leaves grad unchanged",
       "grad is left unchanged (and the result is about right)", "grad queda intacto (y el resultado es aproximadamente correcto)")
def check_unbroadcast_no_mutation(student, rng, lang):
    for kind, extra in (("ones", 0), ("leading", None), ("ones", None)):
        target, full = draws.broadcast_case(rng, kind, max_ndim=4, extra=extra)
        _unbroadcast_case(student, rng, lang, target, full, "", watch=True)


def _reduce_case(student, rng, lang, fname, shape, axis, keepdims, hint, watch=False):
    forward, backward = (np.sum, ref.sum_backward) if fname == "sum_backward" else (np.mean, ref.mean_backward)
    a = rng.normal(0, 1, shape)
    out_shape = forward(a, axis=axis, keepdims=keepdims).shape
    g = rng.normal(0, 1, out_shape)
    where = f"{fname}(grad, {shape}, axis={axis}, keepdims={keepdims}), grad.shape = {out_shape}"
    raw = run(student, (g, shape, axis, keepdims), ("grad", None, None, None), lang, where, hint, watch,
              hint if watch else "")
    got = learner_array(raw, lang, where, strict=not watch)
    numeric = fd.gradient(lambda v: np.sum(g * forward(v, axis=axis, keepdims=keepdims)), a)
    expect_gradient(got, backward(g, shape, axis, keepdims), numeric, lang, where, hint,
                    forward=f"sum(grad * a.{forward.__name__}(axis, keepdims))", loose=watch)


def _reduce_shape(rng, lo=1, hi=3):
    return tuple(draws.size(rng, 2, 4) for _ in range(draws.size(rng, lo, hi)))


@check("sum_backward.axis", 2, "sum_backward, keepdims=False",
       "axis given, keepdims=False: the reduced axes are put back before broadcasting; float64",
       "con `axis` y `keepdims=False`: se recolocan los ejes reducidos antes de difundir; en float64")
def check_sum_backward_axis(student, rng, lang):
    hint = tr(lang, "Pitfall (keepdims=False): reshape grad with size-1 axes where the sum removed them, "
                    "then broadcast to the input shape.",
              "Error típico (keepdims=False): da a grad ejes de tamaño 1 donde la suma los quitó y "
              "después difúndelo a la forma de la entrada.")
    k = draws.size(rng, 2, 5)
    cases = [((k, k), int(rng.choice([1, -1])))]                    # square: a misplaced axis runs silently
    cases += [(shape, draws.axes(rng, len(shape))) for shape in (_reduce_shape(rng, 2), _reduce_shape(rng, 1))]
    cases.insert(1, cases[0])                                         # the same shapes again, new numbers
    for shape, axis in cases:
        _reduce_case(student, rng, lang, "sum_backward", shape, axis, False, hint)


@check("sum_backward.keepdims", 1, "sum_backward, keepdims=True",
       "axis given, keepdims=True: grad already has the size-1 axes",
       "con `axis` y `keepdims=True`: grad ya tiene los ejes de tamaño 1")
def check_sum_backward_keepdims(student, rng, lang):
    hint = tr(lang, "With keepdims=True the upstream gradient already has size-1 axes: only broadcast it.",
              "Con keepdims=True el gradiente entrante ya tiene los ejes de tamaño 1: basta con difundirlo.")
    for shape in (_reduce_shape(rng, 2), _reduce_shape(rng, 1), _reduce_shape(rng, 3)):
        _reduce_case(student, rng, lang, "sum_backward", shape, draws.axes(rng, len(shape)), True, hint)


def _all_cases(rng):
    return [(_reduce_shape(rng, 1), False), (_reduce_shape(rng, 2), bool(rng.random() < 0.5)),
            (_reduce_shape(rng, 1, 3), True), ((), bool(rng.random() < 0.5))]


@check("sum_backward.all", 1, "sum_backward, axis=None",
       "axis=None: a scalar gradient spreads over the whole input (0-d inputs too)",
       "axis=None: un gradiente escalar se reparte por toda la entrada (también con entradas de dimensión 0)")
def check_sum_backward_all(student, rng, lang):
    hint = tr(lang, "axis=None sums over every axis: the upstream gradient is a scalar (or all size-1).",
              "axis=None suma sobre todos los ejes: el gradiente entrante es un escalar (o tiene todos los ejes de "
              "tamaño 1).")
    for shape, keepdims in _all_cases(rng):
        _reduce_case(student, rng, lang, "sum_backward", shape, None, keepdims, hint)


@check("sum_backward.no_mutation", 1, "sum_backward leaves grad unchanged",
       "grad is left unchanged (and the result is about right)", "grad queda intacto (y el resultado es aproximadamente correcto)")
def check_sum_backward_no_mutation(student, rng, lang):
    for keepdims in (False, True):
        shape = _reduce_shape(rng, 2)
        _reduce_case(student, rng, lang, "sum_backward", shape, draws.axes(rng, len(shape)), keepdims, "", watch=True)


@check("mean_backward.count", 2, "mean_backward, axis given",
       "divides by the number of reduced elements only; float64",
       "divide solo entre el número de elementos reducidos; en float64")
def check_mean_backward_count(student, rng, lang):
    hint = tr(lang, "Pitfall: N is the count of the reduced axes (e.g. shape[axis]), not the total size.",
              "Error típico: N es el número de elementos de los ejes reducidos (p. ej. shape[axis]), "
              "no el tamaño total.")
    cases = [(draws.sizes(rng, 2, 2, 5), -1, False)]   # the last axis of two distinct sizes: N = shape[-1]
    for shape, keepdims in ((_reduce_shape(rng, 2), False), (_reduce_shape(rng, 2), True),
                            (_reduce_shape(rng, 1, 3), bool(rng.random() < 0.5))):
        axis = draws.axes(rng, len(shape))
        if len(shape) > 1 and isinstance(axis, tuple) and len(axis) == len(shape):
            axis = axis[1:]                              # leave an axis unreduced, so that N < size
        cases.append((shape, axis, keepdims))
    cases.insert(1, cases[0])                                         # the same shapes again, new numbers
    for shape, axis, keepdims in cases:
        _reduce_case(student, rng, lang, "mean_backward", shape, axis, keepdims, hint)


@check("mean_backward.all", 1, "mean_backward, axis=None",
       "axis=None: every entry gets grad / size (0-d inputs too)",
       "axis=None: cada elemento recibe grad / tamaño (también con entradas de dimensión 0)")
def check_mean_backward_all(student, rng, lang):
    hint = tr(lang, "axis=None reduces every axis: N = the total number of entries.",
              "axis=None reduce todos los ejes: N = número total de elementos.")
    for shape, keepdims in _all_cases(rng):
        _reduce_case(student, rng, lang, "mean_backward", shape, None, keepdims, hint)


@check("mean_backward.no_mutation", 1, "mean_backward leaves grad unchanged",
       "grad is left unchanged (and the result is about right)", "grad queda intacto (y el resultado es aproximadamente correcto)")
def check_mean_backward_no_mutation(student, rng, lang):
    hint = tr(lang, "Pitfall: `grad /= N` divides the caller's array; write `grad = grad / N`.",
              "Error típico: `grad /= N` divide el array de quien llama; escribe `grad = grad / N`.")
    for keepdims in (False, True):
        shape = _reduce_shape(rng, 2)
        _reduce_case(student, rng, lang, "mean_backward", shape, draws.axes(rng, len(shape)), keepdims, hint,
                     watch=True)


def _getitem_case(student, rng, lang, shape, index, text, hint, watch=False):
    a = rng.normal(0, 1, shape)
    g = rng.normal(0, 1, a[index].shape)
    where = f"getitem_backward(grad, {shape}, {text})"
    names = ("grad", None, "index" if isinstance(index, np.ndarray) else None)
    raw = run(student, (g, shape, index), names, lang, where, hint, watch)
    got = learner_array(raw, lang, where, strict=not watch)
    numeric = fd.gradient(lambda v: np.sum(g * v[index]), a)
    expect_gradient(got, ref.getitem_backward(g, shape, index), numeric, lang, where, hint,
                    forward="sum(grad * a[index])", loose=watch)


@check("getitem_backward.slices", 1, "getitem_backward, slices and integers",
       "slices and single integers scatter grad back into zeros; float64",
       "con rebanadas y enteros sueltos, grad vuelve a su sitio sobre ceros; en float64")
def check_getitem_backward_slices(student, rng, lang):
    shapes = [tuple(draws.size(rng, 2, 5) for _ in range(ndim)) for ndim in (1, 2, 3)]
    for shape in shapes + shapes[:1]:                             # the first shape again, another index
        index, text = draws.index(rng, shape, repeated=False)
        _getitem_case(student, rng, lang, shape, index, text, "")


@check("getitem_backward.repeated", 2, "getitem_backward, repeated indices",
       "repeated indices accumulate (np.add.at)", "los índices repetidos se acumulan (np.add.at)")
def check_getitem_backward_repeated(student, rng, lang):
    hint = tr(lang, "Pitfall: `out[index] = grad` (or `+=`) keeps only one contribution per repeated index; "
                    "use np.add.at(out, index, grad).",
              "Error típico: `out[index] = grad` (o `+=`) guarda una sola contribución por índice repetido; "
              "usa np.add.at(out, index, grad).")
    for ndim in (1, 2, 2):
        shape = tuple(draws.size(rng, 2, 5) for _ in range(ndim))
        index, text = draws.index(rng, shape, repeated=True)
        _getitem_case(student, rng, lang, shape, index, text, hint)


@check("getitem_backward.no_mutation", 1, "getitem_backward leaves grad and index unchanged",
       "grad and index are left unchanged (and the result is about right)",
       "grad e index quedan intactos (y el resultado es aproximadamente correcto)")
def check_getitem_backward_no_mutation(student, rng, lang):
    shape = (draws.size(rng, 3, 6),)
    index, text = draws.index(rng, shape, repeated=True)
    _getitem_case(student, rng, lang, shape, index, text, "", watch=True)


def _pieces(raw, n, lang, where, hint, strict=True):
    if isinstance(raw, (tuple, list)):
        items = expect_sequence(raw, n, lang, where, "one gradient per parent", "un gradiente por padre")
    else:
        arr = as_array(raw, lang, where)
        if arr.ndim == 0 or len(arr) != n:
            raise Fail(tr(lang, f"{where}: expected a list of {n} pieces.",
                             f"{where}: se esperaba una lista de {n} trozos.") + " " + hint)
        items = tuple(arr)
    return [learner_array(p, lang, f"{where}, " + tr(lang, f"piece {i}", f"trozo {i}"), strict=strict)
            for i, p in enumerate(items)]


def _cat_case(student, rng, lang, shapes, axis, hint, watch=False):
    parts = [rng.normal(0, 1, s) for s in shapes]
    g = rng.normal(0, 1, np.concatenate(parts, axis=axis).shape)
    where = f"cat_backward(grad, {shapes}, axis={axis}), grad.shape = {g.shape}"
    raw = run(student, (g, [tuple(s) for s in shapes], axis), ("grad", None, None), lang, where, hint, watch)
    got = _pieces(raw, len(shapes), lang, where, hint, strict=not watch)
    for i, (piece, want) in enumerate(zip(got, ref.cat_backward(g, shapes, axis))):
        def forward(v, i=i):
            return np.sum(g * np.concatenate(parts[:i] + [v] + parts[i + 1:], axis=axis))
        expect_gradient(piece, want, fd.gradient(forward, parts[i]), lang,
                        f"{where}, " + tr(lang, f"piece {i}", f"trozo {i}"), hint,
                        forward="sum(grad * concatenate(parts))", atol=0, rtol=0, loose=watch)


def _cat_shapes(rng, ndim, axis):
    other = [draws.size(rng, 2, 4) for _ in range(ndim)]
    shapes = []
    for n in draws.sizes(rng, draws.size(rng, 2, 4), 1, 4):
        s = list(other)
        s[axis] = n
        shapes.append(tuple(s))
    return shapes


@check("cat_backward.axis0", 1, "cat_backward along axis 0",
       "splits grad along axis 0 into pieces of the parents' sizes; float64",
       "parte grad por el eje 0 en trozos del tamaño de cada padre; en float64")
def check_cat_backward_axis0(student, rng, lang):
    shapes = _cat_shapes(rng, 2, 0)
    for case in (shapes, _cat_shapes(rng, 1, 0), shapes):            # the first shapes again, new numbers
        _cat_case(student, rng, lang, case, 0, "")


@check("cat_backward.axis", 1, "cat_backward along another axis",
       "splits along the concatenation axis (axis=1, axis=-1, ...)",
       "parte por el eje de concatenación (axis=1, axis=-1, ...)")
def check_cat_backward_axis(student, rng, lang):
    hint = tr(lang, "Pitfall: split along `axis`, using each parent's shape[axis] as its size.",
              "Error típico: parte por `axis`, en trozos cuyo tamaño es el shape[axis] de cada padre.")
    for ndim, axis in ((2, 1), (3, int(rng.choice([1, 2]))), (3, -1)):
        _cat_case(student, rng, lang, _cat_shapes(rng, ndim, axis), axis, hint)


@check("cat_backward.no_mutation", 1, "cat_backward leaves grad unchanged",
       "grad is left unchanged (and the pieces are about right)", "grad queda intacto (y los trozos son aproximadamente correctos)")
def check_cat_backward_no_mutation(student, rng, lang):
    _cat_case(student, rng, lang, _cat_shapes(rng, 2, 0), 0, "", watch=True)


def _gelu_case(student, lang, x, hint_fn, watch=False):
    where = f"gelu_grad(x), x = {fmt(x)}"
    got = learner_array(run(student, (x,), ("x",), lang, where, watch=watch), lang, where, np.shape(x),
                        strict=not watch)
    xf = np.asarray(x, dtype=np.float64)
    expect_gradient(got, ref.gelu_grad(xf), fd.derivative(ref.gelu, xf), lang, where, hint_fn(got, xf),
                    forward="gelu", loose=watch)


def _gelu_hint(lang):
    def hint(got, x):
        if np.allclose(got, ref.normal_cdf(x)):
            return tr(lang, "You returned Φ(x) only: the product rule adds the term x φ(x).",
                      "Devolviste solo Φ(x): la regla del producto añade el término x φ(x).")
        return tr(lang, "GELU is x Φ(x) (exact, with erf); by the product rule its derivative is Φ(x) + x φ(x).",
                  "La GELU es x Φ(x) (la exacta, con erf); por la regla del producto, su derivada es "
                  "Φ(x) + x φ(x).")
    return hint


@check("gelu_grad.values", 2, "gelu_grad(x) vs centred differences",
       "Φ(x) + x φ(x), confirmed by centred differences of the exact GELU, as float64 (integer x too)",
       "Φ(x) + x φ(x), confirmado con diferencias centradas de la GELU exacta, en float64 (también con x entero)")
def check_gelu_grad_values(student, rng, lang):
    x = np.concatenate([np.linspace(-4, 4, 9), draws.log_uniform(rng, 0.3, 3.0) * rng.normal(0, 1, 6),
                        draws.away_from_zero(rng, 2, 5.0, 30.0)])
    for case in (x, rng.normal(0, 2, x.size), rng.integers(-5, 6, draws.size(rng, 3, 8))):
        _gelu_case(student, lang, case, _gelu_hint(lang))


@check("gelu_grad.shapes", 1, "gelu_grad(x) keeps the shape of x",
       "element-wise for any shape: (), (3, 4), (2, 1, 3), ...",
       "elemento a elemento para cualquier forma: (), (3, 4), (2, 1, 3), ...")
def check_gelu_grad_shapes(student, rng, lang):
    hint = tr(lang, "Work on whole arrays (np.exp, a vectorised erf) so the result keeps the shape of x.",
              "Trabaja con arrays completos (np.exp, una erf vectorizada) para que el resultado conserve la forma de x.")
    shapes = [(), draws.sizes(rng, 2, 2, 5), (draws.size(rng, 2, 3), 1, draws.size(rng, 2, 4)),
              tuple(draws.size(rng, 1, 3) for _ in range(draws.size(rng, 3, 4)))]
    for shape in shapes:
        x = rng.normal(0, 2, shape)
        where = f"gelu_grad(x), x.shape = {shape}"
        got = learner_array(call(student, np.array(x), where=where, lang=lang, hint=hint), lang, where, shape, hint)
        # values are gelu_grad.values' business: here the learner's own 1-D answer is the expectation
        flat = as_array(call(student, x.reshape(-1), where="gelu_grad(x.reshape(-1))", lang=lang, hint=hint),
                        lang, where)
        expect_close(got, flat.reshape(shape) if flat.size == x.size else flat, lang, where, hint,
                     atol=1e-12, rtol=1e-12)


@check("gelu_grad.no_mutation", 1, "gelu_grad(x) leaves x unchanged",
       "x is left unchanged (and the result is about right)", "x queda intacto (y el resultado es aproximadamente correcto)")
def check_gelu_grad_no_mutation(student, rng, lang):
    hint = _gelu_hint(lang)
    _gelu_case(student, lang, rng.normal(0, 2, draws.size(rng, 3, 8)), hint, watch=True)


# =========================== lab 03: matmul and fused cross-entropy ===========================

def _matmul_case(student, rng, lang, a_shape, b_shape, hint, watch=False, A=None, B=None, dC=None):
    A = rng.normal(0, 1, a_shape) if A is None else A
    B = rng.normal(0, 1, b_shape) if B is None else B
    dC = rng.normal(0, 1, np.matmul(A, B).shape) if dC is None else dC
    where = f"matmul_backward(A, B, dC), A {A.shape}, B {B.shape}, dC {dC.shape}"
    raw = run(student, (A, B, dC), ("A", "B", "dC"), lang, where, hint, watch)
    out = expect_sequence(raw, 2, lang, where, "the pair (dA, dB)", "el par (dA, dB)")
    dA_got, dB_got = (learner_array(o, lang, f"{where}: {n}", strict=not watch) for o, n in zip(out, ("dA", "dB")))
    dA, dB = ref.matmul_backward(A, B, dC)
    numeric_A = fd.gradient(lambda v: np.sum(dC * (v @ B)), A)
    numeric_B = fd.gradient(lambda v: np.sum(dC * (A @ v)), B)
    expect_gradient(dA_got, dA, numeric_A, lang, where + ": dA", hint, forward="sum(dC * (A @ B))", loose=watch)
    expect_gradient(dB_got, dB, numeric_B, lang, where + ": dB", hint, forward="sum(dC * (A @ B))", loose=watch)


def _mkn(rng):
    return draws.sizes(rng, 3, 1, 5)


@check("matmul_backward.2d", 2, "matmul_backward, 2-D, non-square",
       "2-D: dA = dC B^T and dB = A^T dC, also for non-square matrices; confirmed by centred differences; float64",
       "2-D: dA = dC B^T y dB = A^T dC, también con matrices no cuadradas; confirmado con diferencias centradas; "
       "en float64")
def check_matmul_backward_2d(student, rng, lang):
    hint = tr(lang, "Check the shapes: dA = dC @ B^T is (M, N) @ (N, K), dB = A^T @ dC is (K, M) @ (M, N).",
              "Comprueba las formas: dA = dC @ B^T es (M, N) @ (N, K), dB = A^T @ dC es (K, M) @ (M, N).")
    _matmul_case(student, rng, lang, None, None, hint, A=np.array([[1.0, 2.0], [3.0, 4.0]]),
                 B=np.array([[5.0], [6.0]]), dC=np.ones((2, 1)))
    M, K, N = _mkn(rng)
    k = draws.size(rng, 2, 4)
    for a_shape, b_shape in (((M, K), (K, N)), ((M, K), (K, N)), ((k, k), (k, k))):
        _matmul_case(student, rng, lang, a_shape, b_shape, hint)


@check("matmul_backward.batched", 2, "matmul_backward, same batch axes",
       "batched (..., M, K) @ (..., K, N): transpose only the last two axes",
       "por lotes (..., M, K) @ (..., K, N): traspón solo los dos últimos ejes")
def check_matmul_backward_batched(student, rng, lang):
    hint = tr(lang, "Pitfall: on a batched array `.T` reverses every axis; use np.swapaxes(X, -1, -2).",
              "Error típico: en un array por lotes `.T` invierte todos los ejes; usa np.swapaxes(X, -1, -2).")
    M, K, N = _mkn(rng)
    k = draws.size(rng, 2, 3)
    for (ba, bb), (m, kk, n) in ((draws.batch_pair(rng, "same"), (M, K, N)), (draws.batch_pair(rng, "same"), (k, k, k))):
        _matmul_case(student, rng, lang, ba + (m, kk), bb + (kk, n), hint)


@check("matmul_backward.broadcast_batch", 2, "matmul_backward, broadcast batch axes",
       "broadcast batch axes (missing or size 1) are summed back (unbroadcast) to the shapes of A and B",
       "los ejes de lote difundidos (ausentes o de tamaño 1) se suman (unbroadcast) hasta recuperar las formas de "
       "A y B")
def check_matmul_backward_broadcast_batch(student, rng, lang):
    hint = tr(lang, "Pitfall: when the batch axes broadcast, sum the gradient back with unbroadcast(dA, A.shape).",
              "Error típico: si los ejes de lote se difunden, suma el gradiente de vuelta con unbroadcast(dA, A.shape).")
    M, K, N = _mkn(rng)
    cases = [((3, 4), (2, 4, 5))] + [(ba + (M, K), bb + (K, N)) for ba, bb in
                                    (draws.batch_pair(rng, kind) for kind in ("missing", "ones", "ones"))]
    for a, b in cases:
        _matmul_case(student, rng, lang, a, b, hint)


@check("matmul_backward.no_mutation", 1, "matmul_backward leaves A, B and dC unchanged",
       "A, B and dC are left unchanged (and the results are about right)",
       "A, B y dC quedan intactos (y los resultados son aproximadamente correctos)")
def check_matmul_backward_no_mutation(student, rng, lang):
    M, K, N = _mkn(rng)
    _matmul_case(student, rng, lang, (M, K), (K, N), "", watch=True)


def _softmax_backward_case(student, rng, lang, shape, hint, watch=False):
    x = draws.logits(rng, shape, scale=(0.3, 3.0), offset=5.0)
    s, ds = ref.softmax(x), rng.normal(0, 1, shape)
    where = f"softmax_backward(s, ds), s.shape = {shape}"
    got = learner_array(run(student, (s, ds), ("s", "ds"), lang, where, hint, watch,
                            tr(lang, "Pitfall: `ds -= ...` writes into the upstream gradient.",
                               "Error típico: `ds -= ...` escribe en el gradiente entrante.")), lang, where,
                        strict=not watch)
    numeric = fd.gradient(lambda v: np.sum(ds * ref.softmax(v)), x)
    expect_gradient(got, ref.softmax_backward(s, ds), numeric, lang, where, hint, forward="sum(ds * softmax(x))",
                    loose=watch)


@check("softmax_backward.vjp", 2, "softmax_backward(s, ds), (N,)",
       "the VJP s * (ds - <s, ds>), confirmed by centred differences of softmax; float64",
       "el VJP s * (ds - <s, ds>), confirmado con diferencias centradas de la softmax; en float64")
def check_softmax_backward_vjp(student, rng, lang):
    hint = tr(lang, "ds^T J with J = diag(s) - s s^T gives s * (ds - sum(s * ds)).",
              "ds^T J con J = diag(s) - s s^T da s * (ds - sum(s * ds)).")
    n = draws.size(rng, 2, 7)
    for shape in ((n,), (n,), (draws.size(rng, 2, 7),)):
        _softmax_backward_case(student, rng, lang, shape, hint)


@check("softmax_backward.batch", 1, "softmax_backward(s, ds), (B, N) and (A, B, N)",
       "batches: the inner product runs along the last axis, keepdims=True",
       "con lotes, el producto escalar recorre el último eje (keepdims=True)")
def check_softmax_backward_batch(student, rng, lang):
    hint = tr(lang, "Pitfall: sum(s * ds) along the last axis with keepdims=True, not axis 0 or the whole array "
                    "(and no `.T`: on 3-D arrays it reverses every axis).",
              "Error típico: suma s * ds sobre el último eje con keepdims=True, no sobre el eje 0 ni sobre todo el "
              "array (y sin `.T`: en arrays 3-D invierte todos los ejes).")
    k = draws.size(rng, 2, 5)
    for shape in (draws.sizes(rng, 2, 2, 6), (k, k), draws.sizes(rng, 3, 2, 5)):
        _softmax_backward_case(student, rng, lang, shape, hint)


@check("softmax_backward.no_mutation", 1, "softmax_backward leaves s and ds unchanged",
       "s and ds are left unchanged (and the result is about right)", "s y ds quedan intactos (y el resultado es aproximadamente correcto)")
def check_softmax_backward_no_mutation(student, rng, lang):
    _softmax_backward_case(student, rng, lang, (draws.size(rng, 2, 7),), "", watch=True)


def _ce_where(fn, logits, y):
    return f"{fn}(logits, y), logits = {fmt(logits)}, y = {fmt(y)}"


def _batch_factor(got, want, batch, forgive):
    """B when ``forgive`` and the learner's result is B times the expected one (a sum instead of the batch mean:
    the business of the batch-mean checks, so that a stability check charges stability only), else 1."""
    if forgive and batch > 1 and np.shape(got) == np.shape(want) and np.isfinite(got).all() \
            and np.allclose(got, batch * want, rtol=1e-9, atol=1e-12) and not np.allclose(got, want):
        return batch
    return 1


def _cross_entropy_case(student, lang, logits, y, hint="", watch=False, atol=EXACT_TOL, forgive_mean=False):
    where = _ce_where("cross_entropy", logits, y)
    raw = run(student, (logits, y), ("logits", "y"), lang, where, hint, watch)
    got = expect_scalar(raw, lang, where, tr(lang, "The loss is one number: the mean over the batch.",
                                             "La pérdida es un solo número: la media sobre el lote."))
    if watch:
        atol = PLAUSIBLE_TOL
    else:
        expect_float64(raw, lang, where)
    B = logits.shape[0]
    want = ref.cross_entropy(logits, y) * _batch_factor(got, ref.cross_entropy(logits, y), B, forgive_mean)
    if B > 1 and np.isclose(got, B * want):
        hint = tr(lang, f"Your loss is B = {B} times too large: take the mean over the batch.",
                  f"Tu pérdida es B = {B} veces la esperada: toma la media sobre el lote.")
    expect_close(got, want, lang, where, hint, atol=atol, rtol=atol if watch else EXACT_TOL)


@check("cross_entropy.values", 1, "cross_entropy(logits, y), mean over the batch, float64",
       "mean over the batch of -log softmax(logits)[b, y_b], as a float64 number",
       "media sobre el lote de -log softmax(logits)[b, y_b], como número float64")
def check_cross_entropy_values(student, rng, lang):
    for B, C in (draws.sizes(rng, 2, 2, 6), draws.sizes(rng, 2, 2, 6)):
        _cross_entropy_case(student, lang, draws.logits(rng, (B, C)), draws.labels(rng, B, C))
    B, C = draws.sizes(rng, 2, 2, 5)
    _cross_entropy_case(student, lang, draws.integer_logits(rng, (B, C)), draws.labels(rng, B, C))


@check("cross_entropy.stability", 2, f"cross_entropy(logits, y), |logits| up to {BIG}",
       f"finite for logits up to ±{BIG} and underflowing probabilities, also with rows far apart in one batch",
       f"finita con logits de hasta ±{BIG} y probabilidades que se anulan, también con filas muy separadas en un lote")
def check_cross_entropy_stability(student, rng, lang):
    hint = tr(lang, "Pitfall: never take np.log(softmax(x)); use x - logsumexp(x) with each row's max subtracted.",
              "Error típico: nunca calcules np.log(softmax(x)); usa x - logsumexp(x) restando el máximo de cada fila.")
    rows = [([1e4, 0.0, -1e4], 2), ([0.0, -800.0, 5.0], 1), ([-1e4, -1e4 + 1.0, -1e4 + 3.0], 0),
            (draws.huge_logits(rng, (4,)), int(rng.integers(0, 4)))]
    for row, label in rows:
        _cross_entropy_case(student, lang, np.array([row], dtype=np.float64), np.array([label]), hint, atol=1e-8)
    B, C = draws.size(rng, 2, 4), draws.size(rng, 2, 5)
    _cross_entropy_case(student, lang, draws.huge_logits(rng, (B, C)), draws.labels(rng, B, C), hint, atol=1e-8,
                        forgive_mean=True)


@check("cross_entropy.no_mutation", 1, "cross_entropy leaves logits and y unchanged",
       "logits and y are left unchanged (and the result is about right)",
       "logits e y quedan intactos (y el resultado es aproximadamente correcto)")
def check_cross_entropy_no_mutation(student, rng, lang):
    C = draws.size(rng, 2, 7)
    _cross_entropy_case(student, lang, draws.logits(rng, (1, C)), draws.labels(rng, 1, C), watch=True)


def _ce_grad_batch_case(student, lang, logits, y, hint_fn, watch=False, shifted=False):
    where = _ce_where("cross_entropy_grad", logits, y)
    got = learner_array(run(student, (logits, y), ("logits", "y"), lang, where, watch=watch,
                            watch_hint=tr(lang, "Pitfall: in-place `logits -= logits.max(...)`; the caller still "
                                                "needs its logits.",
                                          "Error típico: `logits -= logits.max(...)` modifica los logits in situ; "
                                          "quien llama aún los necesita.")), lang, where, logits.shape, strict=not watch)
    want = ref.cross_entropy_grad(logits, y)
    at = logits - logits.max(axis=-1, keepdims=True) if shifted else logits
    numeric = fd.gradient(lambda v: ref.cross_entropy(v, y), at)
    confirmed(want, numeric, where)
    factor = _batch_factor(got, want, logits.shape[0], forgive=shifted)
    expect_gradient(got, factor * want, factor * numeric, lang, where, hint_fn(got, want), forward="cross_entropy",
                    loose=watch)


@check("cross_entropy_grad.values", 1, "cross_entropy_grad, B = 1, vs centred differences",
       "softmax - one_hot, confirmed by centred differences of the loss; float64 (integer logits too)",
       "softmax - one_hot, confirmado con diferencias centradas de la pérdida; en float64 (también con logits "
       "enteros)")
def check_cross_entropy_grad_values(student, rng, lang):
    def hint(got, want):
        return tr(lang, "Expected (softmax(logits) - one_hot(y)) / B.", "Se esperaba (softmax(logits) - one_hot(y)) / B.")
    C = draws.size(rng, 2, 7)
    for logits in (draws.logits(rng, (1, C)), draws.logits(rng, (1, C)), draws.integer_logits(rng, (1, C))):
        _ce_grad_batch_case(student, lang, logits, draws.labels(rng, 1, C), hint)


@check("cross_entropy_grad.batch_mean", 1, "cross_entropy_grad, B > 1",
       "a batch: the gradient of the mean carries 1/B",
       "con un lote: el gradiente de la media lleva el factor 1/B")
def check_cross_entropy_grad_batch_mean(student, rng, lang):
    def hint(got, want):
        B = want.shape[0]
        if np.allclose(got, B * want, atol=1e-9):
            return tr(lang, f"Your gradient is B = {B} times too large: you forgot /B.",
                      f"Tu gradiente es B = {B} veces el esperado: olvidaste dividir entre B.")
        return ""
    k = draws.size(rng, 2, 6)
    for (B, C), dtype in ((draws.sizes(rng, 2, 2, 7), np.int64), ((k, k), np.int32)):   # int32 labels: dtype probe
        _ce_grad_batch_case(student, lang, draws.logits(rng, (B, C)), draws.labels(rng, B, C, dtype), hint)


@check("cross_entropy_grad.stability", 1, f"cross_entropy_grad, |logits| up to {BIG}",
       f"finite and correct for logits up to ±{BIG}, also with rows far apart in one batch",
       f"finito y correcto con logits de hasta ±{BIG}, también con filas muy separadas en un lote")
def check_cross_entropy_grad_stability(student, rng, lang):
    def hint(got, want):
        return tr(lang, "Overflow: subtract each row's max before exp (or use exp(logits - logsumexp)); a max over "
                        "the whole batch leaves rows far below it at 0 / 0.",
                  "Desbordamiento: resta el máximo de cada fila antes de exp (o usa exp(logits - logsumexp)); con "
                  "un máximo de todo el lote, las filas que quedan muy por debajo dan 0 / 0.")
    rows = [([1e4, 0.0, -1e4], 2), ([-1e4, -1e4 + 1.0, -1e4 + 3.0], 0)]
    cases = [(np.array([row]), np.array([label])) for row, label in rows]
    C = draws.size(rng, 2, 5)
    cases.append((draws.huge_logits(rng, (1, C)), draws.labels(rng, 1, C)))
    B, C = draws.size(rng, 2, 4), draws.size(rng, 2, 5)
    cases.append((draws.huge_logits(rng, (B, C)), draws.labels(rng, B, C)))
    for lg, y in cases:
        _ce_grad_batch_case(student, lang, lg, y, hint, shifted=True)


@check("cross_entropy_grad.no_mutation", 1, "cross_entropy_grad leaves logits unchanged",
       "logits and y are left unchanged (and the result is about right)",
       "logits e y quedan intactos (y el resultado es aproximadamente correcto)")
def check_cross_entropy_grad_no_mutation(student, rng, lang):
    C = draws.size(rng, 2, 7)
    _ce_grad_batch_case(student, lang, draws.logits(rng, (1, C)), draws.labels(rng, 1, C), lambda g, w: "",
                        watch=True)


# =========================== lab 04: the engine's backward ===========================

def _run_backward(student, root, lang, where):
    call(student, root, where=where, lang=lang)


def _leaf_grad(leaf, lang, where):
    """A leaf's .grad after the learner's backward: their code may have replaced (or deleted) it."""
    try:
        return as_array(leaf.grad, lang, where)
    except Fail:
        raise
    except Exception as exc:  # noqa: BLE001 - an attribute the learner's code controls
        raise Fail(tr(lang, f"{where} cannot be read ({type(exc).__name__}: {exc}).",
                         f"{where} no se puede leer ({type(exc).__name__}: {exc}).")) from None


def _expect_grads(leaves, want, numeric, lang, where, hint):
    for name, leaf in leaves.items():
        label = f"{where}: {name}.grad"
        expect_gradient(_leaf_grad(leaf, lang, label), want[name], numeric[name], lang, label, hint, forward="L")


@check("backward.chain", 1, "backward(L) on a chain of operations",
       "seeds dL/dL = 1 and runs every _backward once, from the loss to the leaves",
       "inicializa dL/dL = 1 y ejecuta cada _backward una vez, de la pérdida a las hojas")
def check_backward_chain(student, rng, lang):
    # Some entries through the relu and some blocked, so that leaving every gradient at zero cannot pass.
    n = draws.size(rng, 3, 7)
    a_val = rng.uniform(0.5, 1.5, n)
    w_val = draws.away_from_zero(rng, n)
    w_val[:2] = np.abs(w_val[:2]) * np.array([1.0, -1.0])
    c = float(draws.log_uniform(rng, 0.5, 3.0))

    def loss(a, w):
        return float(np.sum(np.maximum(a * w, 0.0) * c))
    mask = (a_val * w_val > 0) * c
    numeric = {"a": fd.gradient(lambda v: loss(v, w_val), a_val), "w": fd.gradient(lambda v: loss(a_val, v), w_val)}
    a, w = ref.Tensor(a_val.copy()), ref.Tensor(w_val.copy())       # the learner's graph: copies of the values
    where = f"L = sum({fmt(c)} relu(a * w)), a.shape = {(n,)}"
    _run_backward(student, ((a * w).relu() * ref.Tensor(c)).sum(), lang, where)
    hint = tr(lang, "Set root.grad = ones, then call _backward on each node after every node that uses it.",
              "Pon root.grad = unos y llama a _backward de cada nodo después de todos los que lo usan.")
    _expect_grads({"a": a, "w": w}, {"a": mask * w_val, "w": mask * a_val}, numeric, lang, where, hint)


@check("backward.diamond", 2, "backward(L) when a node feeds two others",
       "a node used twice gets both contributions before its own _backward runs, and runs once",
       "un nodo usado dos veces recibe las dos contribuciones antes de que se ejecute su _backward, que se "
       "ejecuta una sola vez")
def check_backward_diamond(student, rng, lang):
    shape = tuple(draws.size(rng, 2, 4) for _ in range(draws.size(rng, 1, 2)))
    a_val, k = rng.normal(0, 1, shape), float(draws.size(rng, 2, 4))
    numeric = {"a": fd.gradient(lambda v: (1 + k) * np.sum(v * v), a_val)}
    a = ref.Tensor(a_val.copy())
    u = a * a
    L = (u + u * ref.Tensor(k)).sum()                   # u feeds the product and the sum: L = (1 + k) sum(a^2)
    where = f"u = a * a; L = sum(u + {k:g} u), a.shape = {shape}"
    _run_backward(student, L, lang, where)
    hint = tr(lang, "Pitfall: visiting nodes depth-first in pre-order (or twice) runs u._backward before v has "
                    "added its share to u.grad, or runs it twice. Use a topological order: reverse post-order "
                    "with a visited set.",
              "Error típico: recorrer en profundidad en preorden (o pasar dos veces por un nodo) ejecuta "
              "u._backward antes de que v sume su parte a u.grad, o lo ejecuta dos veces. Usa un orden "
              "topológico: postorden invertido con un conjunto de visitados.")
    _expect_grads({"a": a}, {"a": 2 * (1 + k) * a_val}, numeric, lang, where, hint)


def _mlp_values(rng):
    """X, y and (W1, b1, W2, b2) with no hidden pre-activation within 1e-3 of relu's kink."""
    B, D, H, C = draws.size(rng, 3, 8), draws.size(rng, 2, 3), draws.size(rng, 3, 6), draws.size(rng, 2, 4)
    while True:
        X, y = rng.normal(0, 1, (B, D)), rng.integers(0, C, B)
        values = [rng.normal(0, 1, s) for s in ((D, H), (H,), (H, C), (C,))]
        if np.abs(X @ values[0] + values[1]).min() > 1e-3:
            return X, y, values


@check("backward.mlp", 2, "backward(L) through a two-layer MLP vs centred differences",
       "gradients of a two-layer MLP with cross-entropy agree with centred differences and the reference engine",
       "los gradientes de un MLP de dos capas con entropía cruzada coinciden con diferencias centradas y con el "
       "motor de referencia")
def check_backward_mlp(student, rng, lang):
    X, y, values = _mlp_values(rng)
    mine = [ref.Tensor(v.copy()) for v in values]
    ref.backward(ref.mlp_loss(mine, X, y))
    want = {name: p.grad for name, p in zip(("W1", "b1", "W2", "b2"), mine)}
    numeric = {}
    for i, name in enumerate(("W1", "b1", "W2", "b2")):
        def f(v, i=i):
            vals = [ref.Tensor(w) for w in values]
            vals[i] = ref.Tensor(v)
            return ref.mlp_loss(vals, X, y).data
        numeric[name] = fd.gradient(f, values[i])
    params = [ref.Tensor(v.copy()) for v in values]                  # the learner's graph: copies of everything
    where = f"mlp_loss(W1, b1, W2, b2), X {X.shape}, W1 {values[0].shape}, W2 {values[2].shape}"
    _run_backward(student, ref.mlp_loss(params, X.copy(), y.copy()), lang, where)
    _expect_grads(dict(zip(("W1", "b1", "W2", "b2"), params)), want, numeric, lang, where, "")
