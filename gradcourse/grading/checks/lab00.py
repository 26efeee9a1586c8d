"""The checks of lab 00: softmax and cross-entropy."""
from __future__ import annotations

import numpy as np

from .. import draws, fd, reference as ref
from ...lang import tr
from ..compare import expect_close, expect_float64, expect_scalar, fmt
from .core import (_vec, batch_factor, BIG, check, confirmed, EXACT, EXACT_TOL, expect_gradient, FD, FD_STEP,
                   GraderFunction, learner_array, LEARNER_FD_TOL, LFD, PLAUSIBLE_TOL, run)


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
       "z is left unchanged (and the result is about right)",
       "z queda intacto (y el resultado es aproximadamente correcto)")
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
       "z is left unchanged (and the result is about right)",
       "z queda intacto (y el resultado es aproximadamente correcto)")
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
       "z is left unchanged (and the result is about right)",
       "z queda intacto (y el resultado es aproximadamente correcto)")
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
       "z is left unchanged (and the result is about right)",
       "z queda intacto (y el resultado es aproximadamente correcto)")
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
    factor = batch_factor(got, want, len(z) if batch else 1, forgive=shifted)
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
       "z is left unchanged (and the result is about right)",
       "z queda intacto (y el resultado es aproximadamente correcto)")


def check_ce_grad_no_mutation(student, rng, lang):
    n = draws.size(rng, 2, 7)
    _ce_grad_case(student, lang, draws.logits(rng, (n,)), int(rng.integers(0, n)), _ce_grad_hint(lang), watch=True)
