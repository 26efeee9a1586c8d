"""Every named check of the labs, in one place.

A check is a pure function of (learner's function, seed, language) -> :class:`Result`. It builds its
own inputs from the seed, computes what to expect with :mod:`.reference` or centred finite
differences (:mod:`.fd`) in float64, calls the learner's function on copies, and compares. Nothing
is read from the learner's kernel besides the function passed in. The learner's self-check cells
call :func:`self_check` with the public seed; the graded cells call :func:`grade` twice: with the
public seed and, in the hidden part, with a seed drawn from the student id.

Each check targets one pitfall and is its own grade cell, so a pitfall costs exactly its points.

Running checks outside the learner's process: a check only ever *calls* ``student`` (through :func:`call`)
and reads what it returns, plus, for the ``*.no_mutation`` checks, the arrays it passed in, and for
``backward.*`` the ``.grad`` of the leaves it passed in. A proxy that ships the arguments over a pipe,
calls the learner's function there, and sends back the return value and the (possibly modified)
arguments can therefore stand in for ``student`` without changing any check.
"""
from __future__ import annotations

import contextlib
import io
import itertools
import warnings
from dataclasses import dataclass
from typing import Callable

import numpy as np

from . import fd
from . import reference as ref
from .compare import Fail, as_array, expect_close, fmt, tr
from .context import PUBLIC_SEED, notebook_language, student_seed

__all__ = ["CHECKS", "Check", "Result", "run_check", "grade", "self_check", "checks_for",
           "PUBLIC_SEED", "student_seed", "notebook_language"]


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


def call(student, *args, where="", lang="en", hint=""):
    """Call the learner's function; turn its exceptions into a readable failure (with the pitfall hint)."""
    try:
        return student(*args)
    except NotImplementedError:
        raise
    except Exception as exc:  # noqa: BLE001 - any error of the learner's code is a failure
        msg = " ".join(str(exc).split())
        raise Fail(tr(lang, f"{where}: your function raised {type(exc).__name__}: {msg}.",
                         f"{where}: tu función lanzó {type(exc).__name__}: {msg}.")
                   + (" " + hint if hint else "")) from None


def run_check(name: str, student, seed: int = PUBLIC_SEED, lang: str = "en") -> Result:
    c = CHECKS[name]
    rng = np.random.default_rng([seed, *name.encode()])
    with quiet():
        try:
            c.fn(student, rng, lang)
        except NotImplementedError:
            msg = tr(lang, "not implemented yet (the stub raises NotImplementedError).",
                     "aún sin implementar (la plantilla lanza NotImplementedError).")
            return Result(name, False, 0.0, c.points, msg)
        except Fail as exc:
            return Result(name, False, 0.0, c.points, str(exc))
        except Exception as exc:  # noqa: BLE001 - e.g. the learner returned something odd
            msg = tr(lang, f"could not check the result ({type(exc).__name__}: {exc}).",
                     f"no se pudo comprobar el resultado ({type(exc).__name__}: {exc}).")
            return Result(name, False, 0.0, c.points, msg)
    return Result(name, True, c.points, c.points, c.title[lang])


def grade(name: str, student, seed: int = PUBLIC_SEED, lang: str | None = None) -> None:
    """For grade cells: silent when the check passes, AssertionError with its message otherwise."""
    r = run_check(name, student, seed, lang or notebook_language())
    if not r.passed:
        raise AssertionError(f"[{name}] {r.message}")


def self_check(student, lang: str | None = None, seed: int = PUBLIC_SEED) -> None:
    """Print one verdict line per check of ``student`` (public inputs)."""
    lang = lang or notebook_language()
    for c in checks_for(student.__name__):
        r = run_check(c.name, student, seed, lang)
        mark = "✅" if r.passed else "❌"
        print(f"{mark} {c.name} ({fmt(r.points)}/{fmt(c.points)}): {r.message}")


def _vec(a):
    return f"z = {fmt(a)}"


# =========================== lab 00: softmax and cross-entropy ===========================

SEED_LOGITS = np.array([2.0, 1.0, 0.5, -1.0, 0.0])


def _softmax_hint(lang):
    return tr(lang, "Pitfall: each row of softmax must sum to 1.",
             "Error típico: cada fila de la softmax debe sumar 1.")


@check("softmax.values", 1, "softmax(z), z of shape (N,)",
       "values match p_i = exp(z_i) / sum_k exp(z_k) for (N,) logits",
       "los valores coinciden con p_i = exp(z_i) / sum_k exp(z_k) para logits (N,)")
def _(student, rng, lang):
    ints = rng.integers(-3, 4, size=4)        # integer logits are logits too (dtype probe)
    for z in (SEED_LOGITS, rng.normal(0, 3, size=7), rng.normal(0, 1, size=1), ints):
        got = call(student, z.copy(), where=_vec(z), lang=lang)
        expect_close(got, ref.softmax(z), lang, f"softmax({_vec(z)})", _softmax_hint(lang), atol=1e-12)


@check("softmax.batch", 1, "softmax(z), z of shape (B, N)",
       "a (B, N) batch is normalised row by row (last axis)",
       "un lote (B, N) se normaliza fila a fila (último eje)")
def _(student, rng, lang):
    for shape in ((4, 6), (3, 2)):
        z = rng.normal(0, 2, size=shape)
        got = call(student, z.copy(), where=f"z.shape = {shape}", lang=lang)
        hint = tr(lang, "Pitfall: softmax works along the last axis (axis=-1, keepdims=True); "
                        "did you normalise over axis 0 or over the whole array?",
                  "Error típico: la softmax actúa sobre el último eje (axis=-1, keepdims=True); "
                  "¿normalizaste sobre el eje 0 o sobre todo el array?")
        expect_close(got, ref.softmax(z), lang, f"softmax(z), z.shape = {shape}", hint, atol=1e-12)


@check("softmax.large_logits", 1, "softmax(z), |z| up to 1e4",
       "finite and correct for logits up to ±1e4",
       "finita y correcta con logits de hasta ±1e4")
def _(student, rng, lang):
    cases = [np.array([1000.0, 0.0, -1000.0]), np.array([1e4, 1e4 - 1.0, -1e4]),
             np.array([-1e4, -1e4 + 2.0, -1e4 + 1.0]), rng.uniform(-1e4, 1e4, size=6)]
    for z in cases:
        got = call(student, z.copy(), where=_vec(z), lang=lang)
        hint = tr(lang, f"Overflow/underflow at z = {fmt(z.max())}: did you subtract max(z) before exp?",
                  f"Desbordamiento con z = {fmt(z.max())}: ¿restaste max(z) antes de exp?")
        expect_close(got, ref.softmax(z), lang, f"softmax({_vec(z)})", hint, atol=1e-12)


@check("softmax.no_mutation", 1, "softmax(z) leaves z unchanged",
       "the input array is left unchanged", "el array de entrada queda intacto")
def _(student, rng, lang):
    for z in (rng.normal(0, 2, size=5), rng.normal(0, 2, size=(3, 4))):
        arg = z.copy()
        call(student, arg, where=f"z.shape = {z.shape}", lang=lang)
        if not np.array_equal(arg, z):
            raise Fail(tr(lang, f"softmax changed its input: z was {fmt(z)}, afterwards {fmt(arg)}. "
                                "Pitfall: in-place `z -= z.max()`; write `z = z - z.max(...)`.",
                          f"softmax modificó su entrada: z era {fmt(z)} y quedó {fmt(arg)}. "
                          "Error típico: `z -= z.max()` en el sitio; escribe `z = z - z.max(...)`."))


@check("softmax_jacobian.values", 2, "softmax_jacobian(z) vs centred differences",
       "matches diag(p) - p p^T and centred finite differences to 1e-7",
       "coincide con diag(p) - p p^T y con diferencias finitas centradas hasta 1e-7")
def _(student, rng, lang):
    for z in (SEED_LOGITS, rng.normal(0, 2, size=4), np.array([0.3])):
        got = as_array(call(student, z.copy(), where=_vec(z), lang=lang), lang, _vec(z))
        want = ref.softmax_jacobian(z)
        numeric = fd.jacobian(ref.softmax, z)
        assert np.max(np.abs(numeric - want)) < 1e-7
        hint = tr(lang, "The diagonal is p_i (1 - p_i) and the off-diagonal entries -p_i p_j.",
                  "La diagonal es p_i (1 - p_i) y fuera de ella -p_i p_j.")
        if got.shape == want.shape and not np.allclose(got, got.T, atol=1e-12):
            hint = tr(lang, "Your matrix is not symmetric, but diag(p) - p p^T is: check the indices.",
                      "Tu matriz no es simétrica y diag(p) - p p^T sí lo es: revisa los índices.")
        expect_close(got, want, lang, f"softmax_jacobian({_vec(z)})", hint, atol=1e-10)


def _fd_hint(got, f, z, h, lang, want):
    forward = np.stack([(np.asarray(f(z + h * e)) - np.asarray(f(z))) / h for e in np.eye(z.size)], -1)
    if np.shape(got) == forward.shape and np.allclose(got, forward, atol=1e-9):
        return tr(lang, f"Your numbers match forward differences (error ~h = {h:g}). "
                        "Use centred differences: (f(z + h) - f(z - h)) / 2h, error ~h².",
                  f"Tus números coinciden con diferencias hacia delante (error ~h = {h:g}). "
                  "Usa diferencias centradas: (f(z + h) - f(z - h)) / 2h, error ~h².")
    if np.shape(got) == np.shape(want) and np.shape(got) == np.shape(got)[::-1] \
            and np.allclose(np.asarray(got).T, want, atol=1e-6) and not np.allclose(want, want.T):
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


@check("jacobian_fd.centred", 1, "jacobian_fd(f, z) vs analytic Jacobians",
       "centred-difference Jacobian agrees with the analytic one to 1e-8",
       "la jacobiana por diferencias centradas coincide con la analítica hasta 1e-8")
def _(student, rng, lang):
    cases = [(ref.softmax, SEED_LOGITS, ref.softmax_jacobian), (_test_map, rng.normal(0, 1, 4), _test_map_jac)]
    for name, (f, z, jac) in zip(("softmax", "f"), cases):
        where = f"jacobian_fd({name}, {_vec(z)})"
        got = call(student, f, z.copy(), where=where, lang=lang)
        want = jac(z)
        got = as_array(got, lang, where)
        expect_close(got, want, lang, where, _fd_hint(got, f, z, 1e-5, lang, want), atol=1e-8, rtol=0)


def _scalar_test(z):
    return float(np.sum(np.sin(z) * z) + 0.5 * z[0] ** 3)


def _scalar_test_grad(z):
    g = np.cos(z) * z + np.sin(z)
    g[0] += 1.5 * z[0] ** 2
    return g


@check("grad_fd.centred", 1, "grad_fd(f, z) vs analytic gradients",
       "centred-difference gradient agrees with the analytic one to 1e-8",
       "el gradiente por diferencias centradas coincide con el analítico hasta 1e-8")
def _(student, rng, lang):
    y = int(rng.integers(0, 5))
    cases = [(f"ce_loss(., {y})", lambda v: ref.ce_loss(v, y), SEED_LOGITS, lambda v: ref.ce_grad(v, y)),
             ("f", _scalar_test, rng.normal(0, 1, 5), _scalar_test_grad)]
    for name, f, z, grad in cases:
        where = f"grad_fd({name}, {_vec(z)})"
        got = as_array(call(student, f, z.copy(), where=where, lang=lang), lang, where)
        want = grad(z)
        expect_close(got, want, lang, where,
                     _fd_hint(got[None] if got.ndim == 1 else got, lambda v: np.atleast_1d(f(v)), z, 1e-5,
                              lang, want[None]), atol=1e-8, rtol=0)


def _scalar(got, lang, where):
    a = as_array(got, lang, where)
    if a.ndim != 0:
        raise Fail(tr(lang, f"{where}: expected one number, got an array of shape {a.shape}. "
                            "The loss is -log p_y for the one class y.",
                      f"{where}: se esperaba un número y se obtuvo un array de forma {a.shape}. "
                      "La pérdida es -log p_y de la clase y."))
    return a


@check("ce_loss.values", 1, "ce_loss(z, y), moderate logits",
       "-log softmax(z)[y] for moderate logits", "-log softmax(z)[y] con logits moderados")
def _(student, rng, lang):
    for z, y in ((SEED_LOGITS, 0), (SEED_LOGITS, 3), (rng.normal(0, 2, 6), int(rng.integers(0, 6)))):
        where = f"ce_loss({_vec(z)}, y={y})"
        got = _scalar(call(student, z.copy(), y, where=where, lang=lang), lang, where)
        expect_close(got, ref.ce_loss(z, y), lang, where, atol=1e-10)


@check("ce_loss.underflow", 2, "ce_loss(z, y) where softmax(z)[y] underflows to 0",
       "finite where softmax(z)[y] underflows to 0 (log-sum-exp form)",
       "finita aunque softmax(z)[y] se anule por desbordamiento inferior (forma log-sum-exp)")
def _(student, rng, lang):
    big = float(rng.uniform(800, 1e4))
    for z, y in ((np.array([0.0, -800.0, 5.0]), 1), (np.array([1e4, 0.0, -1e4]), 2),
                 (np.array([big, 1.0, -big, 3.0]), 2)):
        where = f"ce_loss({_vec(z)}, y={y})"
        got = _scalar(call(student, z.copy(), y, where=where, lang=lang), lang, where)
        hint = tr(lang, f"softmax(z)[{y}] underflows to 0 and log(0) = -inf: "
                        "did you use np.log(softmax(z))? Use -z[y] + logsumexp(z).",
                  f"softmax(z)[{y}] se anula y log(0) = -inf: ¿usaste np.log(softmax(z))? "
                  "Usa -z[y] + logsumexp(z).")
        expect_close(got, ref.ce_loss(z, y), lang, where, hint, atol=1e-8, rtol=1e-12)


@check("ce_grad.values", 1, "ce_grad(z, y) vs centred differences of ce_loss",
       "softmax(z) - one_hot(y), confirmed by centred differences",
       "softmax(z) - one_hot(y), confirmado con diferencias centradas")
def _(student, rng, lang):
    for z, y in ((SEED_LOGITS, 0), (rng.normal(0, 2, 6), int(rng.integers(0, 6)))):
        where = f"ce_grad({_vec(z)}, y={y})"
        got = call(student, z.copy(), y, where=where, lang=lang)
        want = ref.ce_grad(z, y)
        assert np.max(np.abs(fd.gradient(lambda v: ref.ce_loss(v, y), z) - want)) < 1e-7
        hint = tr(lang, "Expected softmax(z) - one_hot(y): subtract 1 at index y only.",
                  "Se esperaba softmax(z) - one_hot(y): resta 1 solo en el índice y.")
        expect_close(got, want, lang, where, hint, atol=1e-10)


@check("ce_grad.batch", 1, "ce_grad(Z, y), Z of shape (B, N)",
       "(B, N) batch: gradient of the mean loss, (softmax - one_hot) / B",
       "lote (B, N): gradiente de la pérdida media, (softmax - one_hot) / B")
def _(student, rng, lang):
    B, N = 4, 6
    z, y = rng.normal(0, 2, (B, N)), rng.integers(0, N, B)
    where = f"ce_grad(Z, y), Z.shape = {(B, N)}, y = {fmt(y)}"
    got = as_array(call(student, z.copy(), y.copy(), where=where, lang=lang), lang, where)
    want = ref.ce_grad(z, y)
    hint = ""
    if got.shape == want.shape and np.allclose(got, B * want, atol=1e-9):
        hint = tr(lang, f"Your gradient is B = {B} times too large: the batch loss is a mean, divide by B.",
                  f"Tu gradiente es B = {B} veces mayor: la pérdida del lote es una media, divide entre B.")
    expect_close(got, want, lang, where, hint, atol=1e-10)


# =========================== lab 01: two-layer network ===========================

def _two_layer_inputs(rng, active):
    n, h, m = 3, 5, 2
    if active:
        x = rng.uniform(0.5, 1.5, n)
        W1 = rng.uniform(0.1, 1.0, (h, n))
    else:
        while True:
            x, W1 = rng.normal(0, 1, n), rng.normal(0, 1, (h, n))
            z1 = W1 @ x
            if (z1 > 0.05).sum() >= 2 and (z1 < -0.05).sum() >= 2:
                break
    return W1, rng.normal(0, 1, (m, h)), x, rng.normal(0, 1, m)


def _two_layer_call(student, args, lang):
    where = "two_layer_grads(W1, W2, x, gy), W1 (5, 3), W2 (2, 5), x (3,), gy (2,)"
    out = call(student, *(a.copy() for a in args), where=where, lang=lang)
    if not isinstance(out, (tuple, list)) or len(out) != 3:
        raise Fail(tr(lang, f"{where}: return the tuple (dW1, dW2, dx).",
                         f"{where}: devuelve la tupla (dW1, dW2, dx)."))
    return where, [as_array(o, lang, where) for o in out]


@check("two_layer_grads.dW2", 1, "two_layer_grads: dW2",
       "dW2 = gy a1^T, with a1 = relu(W1 x)", "dW2 = gy a1^T, con a1 = relu(W1 x)")
def _(student, rng, lang):
    args = _two_layer_inputs(rng, active=False)
    where, (_, dW2, _) = _two_layer_call(student, args, lang)
    hint = tr(lang, "dW2 is the outer product of gy with the activation a1 = relu(z1), not with z1.",
              "dW2 es el producto exterior de gy con la activación a1 = relu(z1), no con z1.")
    expect_close(dW2, ref.two_layer_grads(*args)[1], lang, where + ": dW2", hint)


@check("two_layer_grads.active", 2, "two_layer_grads: dW1, dx with every unit active",
       "dW1 = g1 x^T and dx = W1^T g1 (every hidden unit active)",
       "dW1 = g1 x^T y dx = W1^T g1 (todas las unidades ocultas activas)")
def _(student, rng, lang):
    args = _two_layer_inputs(rng, active=True)
    where, (dW1, _, dx) = _two_layer_call(student, args, lang)
    want = ref.two_layer_grads(*args)
    hint = tr(lang, "dW1 has the shape of W1, (hidden, inputs): the outer product g1 x^T, in that order.",
              "dW1 tiene la forma de W1, (ocultas, entradas): el producto exterior g1 x^T, en ese orden.")
    expect_close(dW1, want[0], lang, where + ": dW1", hint)
    expect_close(dx, want[2], lang, where + ": dx")


@check("two_layer_grads.relu_mask", 2, "two_layer_grads: relu mask",
       "inactive hidden units (z1 <= 0) pass no gradient to dW1 and dx",
       "las unidades ocultas inactivas (z1 <= 0) no pasan gradiente a dW1 ni a dx")
def _(student, rng, lang):
    args = _two_layer_inputs(rng, active=False)
    where, (dW1, _, dx) = _two_layer_call(student, args, lang)
    want = ref.two_layer_grads(*args)
    hint = tr(lang, "Multiply W2^T gy elementwise by relu'(z1) = (z1 > 0) before going further back.",
              "Multiplica W2^T gy elemento a elemento por relu'(z1) = (z1 > 0) antes de seguir hacia atrás.")
    expect_close(dx, want[2], lang, where + ": dx", hint)
    if dW1.shape == want[0].shape:     # a wrong shape is the business of two_layer.active
        off = args[0] @ args[2] <= 0
        expect_close(dW1[off], want[0][off], lang, where + ": dW1[z1 <= 0]", hint)


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


def _run_unbroadcast(student, rng, lang, cases, hint):
    for target, full in cases:
        g = rng.normal(0, 1, full)
        where = f"unbroadcast(grad, {target}), grad.shape = {full}"
        got = as_array(call(student, g.copy(), target, where=where, lang=lang, hint=hint), lang, where)
        expect_close(got, ref.unbroadcast(g, target), lang, where, hint, atol=1e-12)


@check("unbroadcast.leading_axes", 2, "unbroadcast: extra leading axes, scalar ()",
       "sums away extra leading axes, including down to the scalar shape ()",
       "suma los ejes iniciales sobrantes, también hasta la forma escalar ()")
def _(student, rng, lang):
    hint = tr(lang, "Pitfall: sum over every extra leading axis (there can be more than one) "
                    "until grad.ndim == len(shape).",
              "Error típico: suma sobre todos los ejes iniciales sobrantes (puede haber más de uno) "
              "hasta que grad.ndim == len(shape).")
    _run_unbroadcast(student, rng, lang, _unbroadcast_cases("leading"), hint)


@check("unbroadcast.size_one_axes", 2, "unbroadcast: size-1 axes",
       "sums size-1 axes of the target with keepdims=True",
       "suma los ejes de tamaño 1 del destino con keepdims=True")
def _(student, rng, lang):
    hint = tr(lang, "Pitfall: a size-1 axis of the target must stay, as size 1: sum(axis=i, keepdims=True).",
              "Error típico: un eje de tamaño 1 del destino debe quedarse con tamaño 1: "
              "sum(axis=i, keepdims=True).")
    _run_unbroadcast(student, rng, lang, _unbroadcast_cases("ones"), hint)


@check("unbroadcast.no_mutation", 1, "unbroadcast leaves grad unchanged",
       "grad is left unchanged", "grad queda intacto")
def _(student, rng, lang):
    for target, full in (((1, 4), (3, 4)), ((3, 1), (3, 4)), ((4,), (2, 3, 4)), ((2, 1, 4), (2, 3, 4))):
        g = rng.normal(0, 1, full)
        arg = g.copy()
        call(student, arg, target, where=f"unbroadcast(grad, {target})", lang=lang)
        if not np.array_equal(arg, g):
            raise Fail(tr(lang, f"unbroadcast(grad, {target}) with grad.shape = {full} modified grad. "
                                "The same upstream gradient may feed several parents: never write into it.",
                          f"unbroadcast(grad, {target}) con grad.shape = {full} modificó grad. "
                          "El mismo gradiente entrante puede alimentar a varios padres: no escribas en él."))


def _reduce_case(rng, student, shape, axis, keepdims, lang, fname, want_fn, hint):
    out_shape = np.sum(np.zeros(shape), axis=axis, keepdims=keepdims).shape
    g = rng.normal(0, 1, out_shape)
    where = f"{fname}(grad, {shape}, axis={axis}, keepdims={keepdims}), grad.shape = {out_shape}"
    got = call(student, g.copy(), shape, axis, keepdims, where=where, lang=lang, hint=hint)
    return expect_close(got, want_fn(g, shape, axis, keepdims), lang, where, hint, atol=1e-12)


@check("sum_backward.axis", 2, "sum_backward, keepdims=False",
       "axis given, keepdims=False: the reduced axes are put back before broadcasting",
       "con axis y keepdims=False: se recolocan los ejes reducidos antes de difundir")
def _(student, rng, lang):
    hint = tr(lang, "Pitfall (keepdims=False): reshape grad with size-1 axes where the sum removed them, "
                    "then broadcast to the input shape.",
              "Error típico (keepdims=False): da a grad ejes de tamaño 1 donde la suma los quitó y "
              "después difúndelo a la forma de la entrada.")
    for shape, axis in (((3, 4), 1), ((4, 4), 1), ((2, 3, 4), (0, 2)), ((2, 3, 4), -2), ((3, 4), 0)):
        _reduce_case(rng, student, shape, axis, False, lang, "sum_backward", ref.sum_backward, hint)


@check("sum_backward.keepdims", 1, "sum_backward, keepdims=True",
       "axis given, keepdims=True: grad already has the size-1 axes",
       "con axis y keepdims=True: grad ya tiene los ejes de tamaño 1")
def _(student, rng, lang):
    hint = tr(lang, "With keepdims=True the upstream gradient already has size-1 axes: only broadcast it.",
              "Con keepdims=True el gradiente entrante ya tiene los ejes de tamaño 1: basta con difundirlo.")
    for shape, axis in (((3, 4), 1), ((2, 3, 4), (0, 2)), ((2, 3, 4), -1)):
        _reduce_case(rng, student, shape, axis, True, lang, "sum_backward", ref.sum_backward, hint)


@check("sum_backward.all", 1, "sum_backward, axis=None",
       "axis=None: a scalar gradient spreads over the whole input",
       "axis=None: un gradiente escalar se reparte por toda la entrada")
def _(student, rng, lang):
    hint = tr(lang, "axis=None sums over every axis: the upstream gradient is a scalar (or all size-1).",
              "axis=None suma sobre todos los ejes: el gradiente entrante es un escalar (o todo tamaño 1).")
    for shape, keepdims in (((3, 4), False), ((2, 3, 4), False), ((3, 4), True), ((5,), False)):
        _reduce_case(rng, student, shape, None, keepdims, lang, "sum_backward", ref.sum_backward, hint)


@check("mean_backward.count", 2, "mean_backward, axis given",
       "divides by the number of reduced elements only",
       "divide solo entre el número de elementos reducidos")
def _(student, rng, lang):
    hint = tr(lang, "Pitfall: N is the count of the reduced axes (e.g. shape[axis]), not the total size.",
              "Error típico: N es el número de elementos de los ejes reducidos (p. ej. shape[axis]), "
              "no el tamaño total.")
    for shape, axis, kd in (((3, 4), 1, False), ((2, 3, 4), (0, 2), True), ((2, 3, 4), -1, False)):
        _reduce_case(rng, student, shape, axis, kd, lang, "mean_backward", ref.mean_backward, hint)


@check("mean_backward.all", 1, "mean_backward, axis=None",
       "axis=None: every entry gets grad / size", "axis=None: cada entrada recibe grad / tamaño")
def _(student, rng, lang):
    hint = tr(lang, "axis=None reduces every axis: N = the total number of entries.",
              "axis=None reduce todos los ejes: N = número total de entradas.")
    for shape, kd in (((3, 4), False), ((2, 3, 4), True)):
        _reduce_case(rng, student, shape, None, kd, lang, "mean_backward", ref.mean_backward, hint)


def _getitem_case(student, rng, lang, shape, index, text, hint):
    g = rng.normal(0, 1, np.zeros(shape)[index].shape)
    where = f"getitem_backward(grad, {shape}, {text})"
    got = call(student, g.copy(), shape, index, where=where, lang=lang, hint=hint)
    expect_close(got, ref.getitem_backward(g, shape, index), lang, where, hint, atol=1e-12)


@check("getitem_backward.slices", 1, "getitem_backward, slices and integers",
       "slices and single integers scatter grad back into zeros",
       "con rebanadas y enteros sueltos, grad vuelve a su sitio sobre ceros")
def _(student, rng, lang):
    for shape, index, text in (((5,), slice(1, 4), "1:4"), ((3, 4), (slice(1, None), slice(None, None, 2)), "[1:, ::2]"),
                               ((3, 4), 2, "2"), ((2, 3, 4), (0, slice(None), -1), "[0, :, -1]")):
        _getitem_case(student, rng, lang, shape, index, text, "")


@check("getitem_backward.repeated", 2, "getitem_backward, repeated indices",
       "repeated indices accumulate (np.add.at)", "los índices repetidos se acumulan (np.add.at)")
def _(student, rng, lang):
    hint = tr(lang, "Pitfall: `out[index] = grad` (or `+=`) keeps only one contribution per repeated index; "
                    "use np.add.at(out, index, grad).",
              "Error típico: `out[index] = grad` (o `+=`) guarda una sola contribución por índice repetido; "
              "usa np.add.at(out, index, grad).")
    k = int(rng.integers(3, 6))
    rows = np.array([0, 2, 0, 0, 1])
    for shape, index, text in (((4,), rows, f"{fmt(rows)}"),
                               ((3, k), (np.array([1, 1, 2]), np.array([0, 0, k - 1])), f"([1, 1, 2], [0, 0, {k - 1}])"),
                               ((3, k), np.array([2, 2]), "[2, 2]")):
        _getitem_case(student, rng, lang, shape, index, text, hint)


def _cat_case(student, rng, lang, shapes, axis, hint):
    parts = [rng.normal(0, 1, s) for s in shapes]
    g = rng.normal(0, 1, np.concatenate(parts, axis=axis).shape)
    where = f"cat_backward(grad, {shapes}, axis={axis}), grad.shape = {g.shape}"
    got = call(student, g.copy(), [tuple(s) for s in shapes], axis, where=where, lang=lang, hint=hint)
    try:
        got = list(got)
    except TypeError:
        got = [got]
    if len(got) != len(shapes):
        raise Fail(tr(lang, f"{where}: expected {len(shapes)} pieces, got {len(got)}.",
                         f"{where}: se esperaban {len(shapes)} trozos y llegaron {len(got)}.") + " " + hint)
    for i, (piece, want) in enumerate(zip(got, ref.cat_backward(g, shapes, axis))):
        expect_close(piece, want, lang, f"{where}, piece {i}", hint, atol=0)


@check("cat_backward.axis0", 1, "cat_backward along axis 0",
       "splits grad along axis 0 into pieces of the parents' sizes",
       "parte grad por el eje 0 en trozos del tamaño de cada padre")
def _(student, rng, lang):
    _cat_case(student, rng, lang, [(2, 3), (1, 3), (4, 3)], 0, "")
    _cat_case(student, rng, lang, [(3,), (5,)], 0, "")


@check("cat_backward.axis", 1, "cat_backward along another axis",
       "splits along the concatenation axis (axis=1, axis=-1)",
       "parte por el eje de concatenación (axis=1, axis=-1)")
def _(student, rng, lang):
    hint = tr(lang, "Pitfall: split along `axis`, using each parent's shape[axis] as its size.",
              "Error típico: parte por `axis`, usando shape[axis] de cada padre como su tamaño.")
    _cat_case(student, rng, lang, [(3, 2), (3, 1), (3, 4)], 1, hint)
    _cat_case(student, rng, lang, [(2, 3, 1), (2, 3, 2)], -1, hint)


@check("gelu_grad.values", 2, "gelu_grad(x) vs centred differences",
       "Φ(x) + x φ(x), confirmed by centred differences of the exact GELU",
       "Φ(x) + x φ(x), confirmado con diferencias centradas de la GELU exacta")
def _(student, rng, lang):
    x = np.concatenate([np.linspace(-4, 4, 9), rng.normal(0, 2, 6)])
    where = f"gelu_grad(x), x = {fmt(x)}"
    got = as_array(call(student, x.copy(), where=where, lang=lang), lang, where)
    want = ref.gelu_grad(x)
    assert np.max(np.abs(np.diag(fd.jacobian(ref.gelu, x)) - want)) < 1e-7
    hint = tr(lang, "GELU is x Φ(x) (exact, with erf); by the product rule its derivative is Φ(x) + x φ(x).",
              "GELU es x Φ(x) (exacta, con erf); por la regla del producto su derivada es Φ(x) + x φ(x).")
    if got.shape == x.shape and np.allclose(got, ref.normal_cdf(x)):
        hint = tr(lang, "You returned Φ(x) only: the product rule adds the term x φ(x).",
                  "Devolviste solo Φ(x): la regla del producto añade el término x φ(x).")
    expect_close(got, want, lang, where, hint, atol=1e-9)


@check("gelu_grad.shapes", 1, "gelu_grad(x) keeps the shape of x",
       "elementwise for any shape: (), (3, 4), (2, 1, 3)",
       "elemento a elemento para cualquier forma: (), (3, 4), (2, 1, 3)")
def _(student, rng, lang):
    hint = tr(lang, "Work on whole arrays (np.exp, a vectorised erf) so the result keeps the shape of x.",
              "Trabaja con arrays completos (np.exp, una erf vectorizada) para que el resultado conserve la forma de x.")
    for shape in ((), (3, 4), (2, 1, 3)):
        x = rng.normal(0, 2, shape)
        where = f"gelu_grad(x), x.shape = {shape}"
        got = call(student, np.array(x), where=where, lang=lang, hint=hint)
        # values are gelu_grad.values' business: here the learner's own 1-D answer is the expectation
        flat = as_array(call(student, x.reshape(-1), where="gelu_grad(x.reshape(-1))", lang=lang, hint=hint),
                        lang, where)
        expect_close(got, flat.reshape(shape) if flat.size == x.size else flat, lang, where, hint,
                     atol=1e-12, rtol=1e-12)


# =========================== lab 03: matmul and fused cross-entropy ===========================

def _matmul_case(student, rng, lang, a_shape, b_shape, hint, A=None, B=None, dC=None):
    A = rng.normal(0, 1, a_shape) if A is None else A
    B = rng.normal(0, 1, b_shape) if B is None else B
    dC = rng.normal(0, 1, np.matmul(A, B).shape) if dC is None else dC
    where = f"matmul_backward(A, B, dC), A {A.shape}, B {B.shape}, dC {dC.shape}"
    out = call(student, A.copy(), B.copy(), dC.copy(), where=where, lang=lang, hint=hint)
    if not isinstance(out, (tuple, list)) or len(out) != 2:
        raise Fail(tr(lang, f"{where}: return the pair (dA, dB).", f"{where}: devuelve el par (dA, dB)."))
    dA, dB = ref.matmul_backward(A, B, dC)
    expect_close(out[0], dA, lang, where + ": dA", hint, atol=1e-10)
    expect_close(out[1], dB, lang, where + ": dB", hint, atol=1e-10)


@check("matmul_backward.2d", 2, "matmul_backward, 2-D, non-square",
       "2-D: dA = dC B^T and dB = A^T dC, also for non-square matrices",
       "2-D: dA = dC B^T y dB = A^T dC, también con matrices no cuadradas")
def _(student, rng, lang):
    hint = tr(lang, "Check the shapes: dA = dC @ B^T is (M, N) @ (N, K), dB = A^T @ dC is (K, M) @ (M, N).",
              "Comprueba las formas: dA = dC @ B^T es (M, N) @ (N, K), dB = A^T @ dC es (K, M) @ (M, N).")
    _matmul_case(student, rng, lang, None, None, hint, A=np.array([[1.0, 2.0], [3.0, 4.0]]),
                 B=np.array([[5.0], [6.0]]), dC=np.ones((2, 1)))
    _matmul_case(student, rng, lang, (2, 3), (3, 4), hint)
    _matmul_case(student, rng, lang, (5, 1), (1, 3), hint)


@check("matmul_backward.batched", 2, "matmul_backward, same batch axes",
       "batched (..., M, K) @ (..., K, N): transpose only the last two axes",
       "por lotes (..., M, K) @ (..., K, N): traspón solo los dos últimos ejes")
def _(student, rng, lang):
    hint = tr(lang, "Pitfall: on a batched array `.T` reverses every axis; use np.swapaxes(X, -1, -2).",
              "Error típico: en un array por lotes `.T` invierte todos los ejes; usa np.swapaxes(X, -1, -2).")
    _matmul_case(student, rng, lang, (2, 3, 4), (2, 4, 5), hint)
    _matmul_case(student, rng, lang, (2, 3, 2, 4), (2, 3, 4, 3), hint)


@check("matmul_backward.broadcast_batch", 2, "matmul_backward, broadcast batch axes",
       "broadcast batch axes are summed back (unbroadcast) to the shapes of A and B",
       "los ejes de lote difundidos se suman de vuelta (unbroadcast) a las formas de A y B")
def _(student, rng, lang):
    hint = tr(lang, "Pitfall: when the batch axes broadcast, sum the gradient back with unbroadcast(dA, A.shape).",
              "Error típico: si los ejes de lote se difunden, suma el gradiente de vuelta con unbroadcast(dA, A.shape).")
    for a, b in (((3, 4), (2, 4, 5)), ((2, 3, 4), (4, 5)), ((1, 3, 4), (3, 4, 2)), ((2, 1, 3, 4), (3, 4, 2))):
        _matmul_case(student, rng, lang, a, b, hint)


def _softmax_backward_case(student, rng, lang, shape, hint):
    s = ref.softmax(rng.normal(0, 2, shape))
    ds = rng.normal(0, 1, shape)
    where = f"softmax_backward(s, ds), s.shape = {shape}"
    got = as_array(call(student, s.copy(), ds.copy(), where=where, lang=lang, hint=hint), lang, where)
    want = ref.softmax_backward(s, ds)
    if len(shape) == 1:   # autograd's check_vjp: one random projection against a directional difference
        z = np.log(s)
        u = rng.normal(0, 1, shape)
        lhs, rhs = fd.vjp_projection_gap(ref.softmax, lambda v: ref.softmax_backward(s, v), z, ds, u)
        assert abs(lhs - rhs) < 1e-7
    expect_close(got, want, lang, where, hint, atol=1e-10)


@check("softmax_backward.vjp", 2, "softmax_backward(s, ds), (N,)",
       "the VJP s * (ds - <s, ds>), checked against a directional difference",
       "el VJP s * (ds - <s, ds>), comprobado con una diferencia direccional")
def _(student, rng, lang):
    hint = tr(lang, "ds^T J with J = diag(s) - s s^T gives s * (ds - sum(s * ds)).",
              "ds^T J con J = diag(s) - s s^T da s * (ds - sum(s * ds)).")
    for n in (5, 3):
        _softmax_backward_case(student, rng, lang, (n,), hint)


@check("softmax_backward.batch", 1, "softmax_backward(s, ds), (B, N) and (A, B, N)",
       "batches: the inner product runs along the last axis, keepdims=True",
       "lotes: el producto interno recorre el último eje, keepdims=True")
def _(student, rng, lang):
    hint = tr(lang, "Pitfall: sum(s * ds) along the last axis with keepdims=True, not axis 0 or the whole array.",
              "Error típico: suma s * ds sobre el último eje con keepdims=True, no sobre el eje 0 ni sobre todo el array.")
    for shape in ((3, 5), (2, 4, 3)):
        _softmax_backward_case(student, rng, lang, shape, hint)


def _ce_inputs(rng, B, C, scale=2.0):
    return rng.normal(0, scale, (B, C)), rng.integers(0, C, B)


def _ce_where(fn, logits, y):
    return f"{fn}(logits, y), logits.shape = {logits.shape}, y = {fmt(y)}"


@check("cross_entropy.values", 1, "cross_entropy(logits, y), mean over the batch",
       "mean over the batch of -log softmax(logits)[b, y_b]",
       "media sobre el lote de -log softmax(logits)[b, y_b]")
def _(student, rng, lang):
    for B, C in ((4, 3), (6, 5)):
        logits, y = _ce_inputs(rng, B, C)
        where = _ce_where("cross_entropy", logits, y)
        got = _scalar(call(student, logits.copy(), y.copy(), where=where, lang=lang), lang, where)
        want = ref.cross_entropy(logits, y)
        hint = ""
        if np.isclose(got, B * want):
            hint = tr(lang, f"Your loss is B = {B} times too large: take the mean over the batch.",
                      f"Tu pérdida es B = {B} veces mayor: toma la media sobre el lote.")
        expect_close(got, want, lang, where, hint, atol=1e-10)


@check("cross_entropy.stability", 2, "cross_entropy(logits, y), |logits| up to 1e4",
       "finite for logits up to ±1e4 and underflowing probabilities",
       "finita con logits de hasta ±1e4 y probabilidades que se anulan")
def _(student, rng, lang):
    hint = tr(lang, "Pitfall: never take np.log(softmax(x)); use x - logsumexp(x) with the max subtracted.",
              "Error típico: nunca calcules np.log(softmax(x)); usa x - logsumexp(x) restando el máximo.")
    rows = [([1e4, 0.0, -1e4], 2), ([0.0, -800.0, 5.0], 1), ([-1e4, -1e4 + 1.0, -1e4 + 3.0], 0),
            (rng.uniform(-1e4, 1e4, 4), int(rng.integers(0, 4)))]
    for row, label in rows:     # one example per batch, so that this check is about stability only
        lg, y = np.array([row], dtype=np.float64), np.array([label])
        where = _ce_where("cross_entropy", lg, y)
        got = _scalar(call(student, lg.copy(), y.copy(), where=where, lang=lang), lang, where)
        expect_close(got, ref.cross_entropy(lg, y), lang, where, hint, atol=1e-8, rtol=1e-12)


def _ce_grad_case(student, lang, logits, y, hint_fn):
    where = _ce_where("cross_entropy_grad", logits, y)
    got = as_array(call(student, logits.copy(), y.copy(), where=where, lang=lang), lang, where)
    want = ref.cross_entropy_grad(logits, y)
    expect_close(got, want, lang, where, hint_fn(got, want), atol=1e-10)


@check("cross_entropy_grad.values", 1, "cross_entropy_grad, B = 1, vs centred differences",
       "softmax - one_hot, confirmed by centred differences of the loss",
       "softmax - one_hot, confirmado con diferencias centradas de la pérdida")
def _(student, rng, lang):
    logits, y = _ce_inputs(rng, 1, 5)
    assert np.max(np.abs(fd.gradient(lambda v: ref.cross_entropy(v, y), logits)
                         - ref.cross_entropy_grad(logits, y))) < 1e-7
    _ce_grad_case(student, lang, logits, y, lambda g, w: tr(
        lang, "Expected (softmax(logits) - one_hot(y)) / B.", "Se esperaba (softmax(logits) - one_hot(y)) / B."))


@check("cross_entropy_grad.batch_mean", 1, "cross_entropy_grad, B > 1",
       "a batch: the gradient of the mean carries 1/B",
       "un lote: el gradiente de la media lleva 1/B")
def _(student, rng, lang):
    def hint(got, want):
        B = want.shape[0]
        if got.shape == want.shape and np.allclose(got, B * want, atol=1e-9):
            return tr(lang, f"Your gradient is B = {B} times too large: you forgot /B.",
                      f"Tu gradiente es B = {B} veces mayor: olvidaste dividir entre B.")
        return ""
    for B, C, dtype in ((5, 3, np.int64), (4, 7, np.int32)):     # labels may come as int32 (dtype probe)
        logits, y = _ce_inputs(rng, B, C)
        _ce_grad_case(student, lang, logits, y.astype(dtype), hint)


@check("cross_entropy_grad.stability", 1, "cross_entropy_grad, |logits| up to 1e4",
       "finite and correct for logits up to ±1e4", "finito y correcto con logits de hasta ±1e4")
def _(student, rng, lang):
    rows = [([1e4, 0.0, -1e4], 2), ([-1e4, -1e4 + 1.0, -1e4 + 3.0], 0),
            (rng.uniform(-1e4, 1e4, 4), int(rng.integers(0, 4)))]
    for row, label in rows:     # B = 1: this check is about stability, not about 1/B
        lg, y = np.array([row], dtype=np.float64), np.array([label])
        _ce_grad_case(student, lang, lg, y, lambda g, w: tr(
            lang, "Overflow: subtract the row max before exp (or use exp(logits - logsumexp)).",
            "Desbordamiento: resta el máximo de cada fila antes de exp (o usa exp(logits - logsumexp))."))


@check("cross_entropy_grad.no_mutation", 1, "cross_entropy_grad leaves logits unchanged",
       "logits and y are left unchanged", "logits e y quedan intactos")
def _(student, rng, lang):
    logits, y = _ce_inputs(rng, 4, 5)
    a, b = logits.copy(), y.copy()
    call(student, a, b, where=_ce_where("cross_entropy_grad", logits, y), lang=lang)
    if not (np.array_equal(a, logits) and np.array_equal(b, y)):
        raise Fail(tr(lang, "cross_entropy_grad changed its inputs. Pitfall: in-place "
                            "`logits -= logits.max(...)`; the caller still needs its logits.",
                      "cross_entropy_grad modificó sus entradas. Error típico: "
                      "`logits -= logits.max(...)` en el sitio; quien llama aún necesita sus logits."))


# =========================== lab 04: the engine's backward ===========================

def _leaf(rng, shape):
    return ref.Tensor(rng.normal(0, 1, shape))


def _run_backward(student, root, lang, where):
    call(student, root, where=where, lang=lang)


def _expect_grads(leaves, want, lang, where, hint):
    for name, leaf in leaves.items():
        expect_close(leaf.grad, want[name], lang, f"{where}: {name}.grad", hint, atol=1e-8)


@check("backward.chain", 1, "backward(L) on a chain of operations",
       "seeds dL/dL = 1 and runs every _backward once, from the loss to the leaves",
       "siembra dL/dL = 1 y ejecuta cada _backward una vez, de la pérdida a las hojas")
def _(student, rng, lang):
    # Some entries through the relu and some blocked, so that leaving every gradient at zero cannot pass.
    a = ref.Tensor(rng.uniform(0.5, 1.5, 4))
    w = ref.Tensor(rng.uniform(0.5, 1.5, 4) * rng.permutation([1.0, 1.0, -1.0, -1.0]))
    L = ((a * w).relu() * ref.Tensor(2.0)).sum()
    _run_backward(student, L, lang, "L = sum(2 relu(a * w))")
    mask = (a.data * w.data > 0) * 2.0
    hint = tr(lang, "Set root.grad = ones, then call _backward on each node after every node that uses it.",
              "Pon root.grad = unos y llama a _backward de cada nodo después de todos los que lo usan.")
    _expect_grads({"a": a, "w": w}, {"a": mask * w.data, "w": mask * a.data}, lang, "L = sum(2 relu(a * w))", hint)


@check("backward.diamond", 2, "backward(L) when a node feeds two others",
       "a node used twice gets both contributions before its own _backward runs, and runs once",
       "un nodo usado dos veces recibe las dos contribuciones antes de ejecutar su _backward, y solo una vez")
def _(student, rng, lang):
    a = _leaf(rng, (4,))
    u = a * a
    v = u * ref.Tensor(3.0)
    L = (u + v).sum()                     # u feeds v and the sum: L = 4 a^2
    where = "u = a * a; L = sum(u + 3 u)"
    _run_backward(student, L, lang, where)
    hint = tr(lang, "Pitfall: visiting nodes depth-first in pre-order (or twice) runs u._backward before v has "
                    "added its share to u.grad, or runs it twice. Use a topological order: reverse post-order "
                    "with a visited set.",
              "Error típico: recorrer en profundidad en preorden (o pasar dos veces por un nodo) ejecuta "
              "u._backward antes de que v sume su parte a u.grad, o lo ejecuta dos veces. Usa un orden "
              "topológico: postorden invertido con un conjunto de visitados.")
    _expect_grads({"a": a}, {"a": 8.0 * a.data}, lang, where, hint)


@check("backward.mlp", 2, "backward(L) through a two-layer MLP vs centred differences",
       "gradients of a two-layer MLP with cross-entropy agree with centred differences",
       "los gradientes de un MLP de dos capas con entropía cruzada coinciden con diferencias centradas")
def _(student, rng, lang):
    X, y = rng.normal(0, 1, (6, 2)), rng.integers(0, 3, 6)
    shapes = [(2, 5), (5,), (5, 3), (3,)]
    values = [rng.normal(0, 1, s) for s in shapes]
    params = [ref.Tensor(v.copy()) for v in values]
    L = ref.mlp_loss(params, X, y)
    _run_backward(student, L, lang, "mlp_loss(W1, b1, W2, b2)")
    for i, name in enumerate(("W1", "b1", "W2", "b2")):
        def f(v, i=i):
            vals = [ref.Tensor(w) for w in values]
            vals[i] = ref.Tensor(v)
            return ref.mlp_loss(vals, X, y).data
        numeric = fd.gradient(f, values[i])
        expect_close(params[i].grad, numeric, lang, f"mlp: {name}.grad", atol=1e-6, rtol=1e-5)
