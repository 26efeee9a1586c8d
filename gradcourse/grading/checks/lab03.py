"""The checks of lab 03: matmul and fused cross-entropy."""
from __future__ import annotations

import numpy as np

from .. import draws, fd, reference as ref
from ...lang import tr
from ..compare import expect_close, expect_float64, expect_scalar, expect_sequence, fmt
from .core import batch_factor, BIG, check, confirmed, EXACT_TOL, expect_gradient, learner_array, PLAUSIBLE_TOL, run


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
    cases = ((draws.batch_pair(rng, "same"), (M, K, N)), (draws.batch_pair(rng, "same"), (k, k, k)))
    for (ba, bb), (m, kk, n) in cases:
        _matmul_case(student, rng, lang, ba + (m, kk), bb + (kk, n), hint)


@check("matmul_backward.broadcast_batch", 2, "matmul_backward, broadcast batch axes",
       "broadcast batch axes (missing or size 1) are summed back (unbroadcast) to the shapes of A and B",
       "los ejes de lote difundidos (ausentes o de tamaño 1) se suman (unbroadcast) hasta recuperar las formas de "
       "A y B")
def check_matmul_backward_broadcast_batch(student, rng, lang):
    hint = tr(lang, "Pitfall: when the batch axes broadcast, sum the gradient back with unbroadcast(dA, A.shape).",
              "Error típico: si los ejes de lote se difunden, suma el gradiente de vuelta con "
              "unbroadcast(dA, A.shape).")
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
       "s and ds are left unchanged (and the result is about right)",
       "s y ds quedan intactos (y el resultado es aproximadamente correcto)")
def check_softmax_backward_no_mutation(student, rng, lang):
    _softmax_backward_case(student, rng, lang, (draws.size(rng, 2, 7),), "", watch=True)


def _ce_where(fn, logits, y):
    return f"{fn}(logits, y), logits = {fmt(logits)}, y = {fmt(y)}"


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
    want = ref.cross_entropy(logits, y) * batch_factor(got, ref.cross_entropy(logits, y), B, forgive_mean)
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
    in_place = tr(lang, "Pitfall: in-place `logits -= logits.max(...)`; the caller still needs its logits.",
                  "Error típico: `logits -= logits.max(...)` modifica los logits in situ; quien llama aún los "
                  "necesita.")
    got = learner_array(run(student, (logits, y), ("logits", "y"), lang, where, watch=watch, watch_hint=in_place),
                        lang, where, logits.shape, strict=not watch)
    want = ref.cross_entropy_grad(logits, y)
    at = logits - logits.max(axis=-1, keepdims=True) if shifted else logits
    numeric = fd.gradient(lambda v: ref.cross_entropy(v, y), at)
    confirmed(want, numeric, where)
    factor = batch_factor(got, want, logits.shape[0], forgive=shifted)
    expect_gradient(got, factor * want, factor * numeric, lang, where, hint_fn(got, want), forward="cross_entropy",
                    loose=watch)


@check("cross_entropy_grad.values", 1, "cross_entropy_grad, B = 1, vs centred differences",
       "softmax - one_hot, confirmed by centred differences of the loss; float64 (integer logits too)",
       "softmax - one_hot, confirmado con diferencias centradas de la pérdida; en float64 (también con logits "
       "enteros)")
def check_cross_entropy_grad_values(student, rng, lang):
    def hint(got, want):
        return tr(lang, "Expected (softmax(logits) - one_hot(y)) / B.",
                  "Se esperaba (softmax(logits) - one_hot(y)) / B.")
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


