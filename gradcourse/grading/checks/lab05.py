"""The checks of lab 05: the backward passes of layer norm and of scaled dot-product attention.

Both functions return a triple of gradients. Each check compares only the gradients its pitfall is about (``dx``
for the three-term formula, ``dgamma`` and ``dbeta`` for the reductions over the leading axes, ...), so that one
mistake costs one check; every gradient it compares is confirmed twice, by centred differences of the forward and
by the reference formula.
"""
from __future__ import annotations

import math

import numpy as np

from .. import draws, fd, reference as ref
from ...lang import tr
from ..compare import expect_sequence, fmt
from .core import BIG, check, expect_gradient, learner_array, run

# The stability draws put scores near ±LARGE_LOGIT. Scores of size 1e4 carry rounding errors near 1e-12, which the
# keys of size 1e3 (draws.large_scores) multiply: two honest implementations, or one and the reference, then differ
# by up to about 1e-10, so this check compares to a looser tolerance than EXACT_TOL.
STABLE_TOL = 1e-8


def _differences(f, x):
    """Centred differences of a scalar function at ``x``, as :func:`fd.gradient` takes them (step ``fd.STEP``, divided
    by the step float64 actually takes), every entry in one call: ``f`` maps a stack of points, shape
    ``(n,) + x.shape``, to its ``n`` values. Layer norm and attention treat leading axes as a batch, so one
    vectorised evaluation replaces 2n small ones (the checks must answer a self-check in well under a second)."""
    x = np.asarray(x, dtype=np.float64)
    n = x.size
    nudge = (fd.STEP * np.eye(n)).reshape((n,) + x.shape)
    plus, minus = x + nudge, x - nudge
    step = (plus - minus).reshape(n, n)[np.arange(n), np.arange(n)]
    return ((np.asarray(f(plus)) - np.asarray(f(minus))) / step).reshape(x.shape)


def _total(a):
    """The sum of each point of a stack: every axis but the first."""
    return a.reshape(a.shape[0], -1).sum(axis=1)


# ------------------------------------------------------------------------------------------------ layer norm

def _ln_forward(eps):
    return f"sum(dy * layernorm(x, gamma, beta{'' if eps is None else ', eps'}))"


def _ln_call(student, lang, x, gamma, dy, eps=None, hint="", watch=False):
    """The learner's (dx, dgamma, dbeta), the reference's, and centred differences of each, as three dicts."""
    args = (x, gamma, dy) if eps is None else (x, gamma, dy, eps)
    e = 1e-5 if eps is None else eps
    where = f"layernorm_backward(x, gamma, dy{'' if eps is None else f', eps={eps:.3g}'}), x {x.shape}"
    if x.ndim == 1 and x.size <= 8:
        where = f"layernorm_backward(x = {fmt(x)}, gamma, dy{'' if eps is None else f', eps={eps:.3g}'})"
    raw = run(student, args, ("x", "gamma", "dy", None)[:len(args)], lang, where, hint, watch,
              tr(lang, "Pitfall: `x -= mean` or `dy *= gamma` writes into the caller's arrays; compute into new "
                       "ones.",
                 "Error típico: `x -= media` o `dy *= gamma` escriben en los arrays de quien llama; calcula en "
                 "arrays nuevos."))
    out = expect_sequence(raw, 3, lang, where, "the triple (dx, dgamma, dbeta)", "la terna (dx, dgamma, dbeta)")
    want = dict(zip(("dx", "dgamma", "dbeta"), ref.layernorm_backward(x, gamma, dy, e), strict=True))
    beta = np.zeros(x.shape[-1])
    # layer norm does not change when a row is shifted: x is differenced at its rows' mean removed, where the
    # forward's rounding is that of moderate numbers.
    at = x - x.mean(axis=-1, keepdims=True)
    per_feature = (-1,) + (1,) * (x.ndim - 1) + (x.shape[-1],)     # a stack of (D,) vectors against x (..., D)
    numeric = {"dx": _differences(lambda v: _total(dy * ref.layernorm(v, gamma, beta, e)), at),
               "dgamma": _differences(lambda v: _total(dy * ref.layernorm(x, v.reshape(per_feature), beta, e)),
                                      np.asarray(gamma, dtype=np.float64)),
               "dbeta": _differences(lambda v: _total(dy * ref.layernorm(x, gamma, v.reshape(per_feature), e)),
                                     beta)}
    return where, out, want, numeric


def _ln_expect(out, want, numeric, names, lang, where, hint, eps=None, watch=False):
    """Compare the gradients ``names`` of the learner's triple ``out``; ``hint``: a text, or a function of the
    gradient's name and the learner's value."""
    for name in names:
        i = ("dx", "dgamma", "dbeta").index(name)
        got = learner_array(out[i], lang, f"{where}: {name}", strict=not watch)
        h = hint(name, got) if callable(hint) else hint
        expect_gradient(got, want[name], numeric[name], lang, f"{where}: {name}", h, _ln_forward(eps), loose=watch)


def _ln_dx_hint(lang):
    return tr(lang, "dx = r * (g - mean(g) - xhat * mean(g * xhat)) with g = gamma * dy, r = 1/sqrt(var + eps), "
                    "both means over the last axis with keepdims=True.",
              "dx = r * (g - mean(g) - xhat * mean(g * xhat)) con g = gamma * dy y r = 1/sqrt(var + eps), las dos "
              "medias sobre el último eje con keepdims=True.")


def _ln_case(rng, shape):
    D = shape[-1]
    return draws.rows(rng, shape), rng.normal(0, 1, D), rng.normal(0, 1, shape)


@check("layernorm_backward.dx", 2, "layernorm_backward: dx of a batch of rows",
       "dx = r (g - mean(g) - xhat mean(g xhat)), g = gamma dy: the mean's and the variance's terms; confirmed by "
       "centred differences; float64",
       "dx = r (g - mean(g) - xhat mean(g xhat)), g = gamma dy: los términos de la media y de la varianza; "
       "confirmado con diferencias centradas; en float64")
def check_layernorm_backward_dx(student, rng, lang):
    x = np.array([2.0, 4.0, 4.0, 4.0, 5.0, 5.0, 7.0, 9.0])     # the lab's worked example
    cases = [(x, np.ones(8), np.eye(8)[0])]
    D = draws.size(rng, 3, 6)
    B = draws.leading_axes(rng, 1, avoid=(D,), lo=2, hi=6)[0]
    cases += [_ln_case(rng, (B, D)), _ln_case(rng, (B, D))]     # the same shape twice: a kept buffer shows
    k = draws.size(rng, 3, 5)
    cases.append(_ln_case(rng, (k, k)))
    for x, gamma, dy in cases:
        where, out, want, numeric = _ln_call(student, lang, x, gamma, dy)
        _ln_expect(out, want, numeric, ("dx",), lang, where, _ln_dx_hint(lang))


@check("layernorm_backward.params", 1, "layernorm_backward: dgamma and dbeta, (B, D)",
       "dgamma = sum of dy * xhat and dbeta = sum of dy over the rows, shape (D,); float64, also for integer gamma",
       "dgamma = suma de dy * xhat y dbeta = suma de dy sobre las filas, de forma (D,); en float64, también con "
       "gamma entera")
def check_layernorm_backward_params(student, rng, lang):
    B, D = draws.sizes(rng, 2, 3, 7)
    def hint(name, got):
        if np.shape(got) != (D,):
            return tr(lang, f"gamma and beta have shape ({D},): sum over the rows (every axis but the last), not "
                            "over the features.",
                      f"gamma y beta tienen forma ({D},): suma sobre las filas (todos los ejes menos el último), no "
                      "sobre las características.")
        return tr(lang, "Each entry of gamma and beta is used by every row: add up the rows' contributions (a "
                        "sum, not a mean, and every row, not only the last).",
                  "Cada elemento de gamma y de beta lo usan todas las filas: suma lo que aporta cada fila (una "
                  "suma, no una media, y todas las filas, no solo la última).")
    cases = [_ln_case(rng, (B, D)), _ln_case(rng, (B, D))]
    x, _, dy = _ln_case(rng, (B, D))
    cases.append((x, rng.integers(-3, 4, D), dy))                 # integer gamma: a dtype probe
    for x, gamma, dy in cases:
        where, out, want, numeric = _ln_call(student, lang, x, gamma, dy)
        _ln_expect(out, want, numeric, ("dgamma", "dbeta"), lang, where, hint)


@check("layernorm_backward.leading_axes", 2, "layernorm_backward: (D,), (A, B, D), (A, B, C, D)",
       "any number of leading axes: dx has the shape of x, dgamma and dbeta shape (D,), summed over every leading "
       "axis",
       "cualquier número de ejes iniciales: dx tiene la forma de x, y dgamma y dbeta la forma (D,), sumados sobre "
       "todos los ejes iniciales")
def check_layernorm_backward_leading_axes(student, rng, lang):
    D = draws.size(rng, 3, 6)
    hint = tr(lang, f"Pitfall: with several leading axes, dgamma and dbeta sum over all of them, "
                    f"axis=tuple(range(x.ndim - 1)), to shape ({D},); and no `.T`: on a 3-D array it reverses every "
                    "axis.",
              f"Error típico: con varios ejes iniciales, dgamma y dbeta suman sobre todos ellos, "
              f"axis=tuple(range(x.ndim - 1)), hasta la forma ({D},); y sin `.T`: en un array 3-D invierte todos "
              "los ejes.")
    for count in (0, 2, 3):
        x, gamma, dy = _ln_case(rng, draws.leading_axes(rng, count, avoid=(D,), hi=3) + (D,))
        where, out, want, numeric = _ln_call(student, lang, x, gamma, dy)
        _ln_expect(out, want, numeric, ("dx", "dgamma", "dbeta"), lang, where, hint)


@check("layernorm_backward.eps", 1, "layernorm_backward: eps as given, small-variance and constant rows",
       "eps is the argument's, inside the square root: r = 1/sqrt(var + eps), also for rows with little or no "
       "spread",
       "eps es el del argumento, dentro de la raíz: r = 1/sqrt(var + eps), también con filas de poca o ninguna "
       "dispersión")
def check_layernorm_backward_eps(student, rng, lang):
    eps = float(draws.log_uniform(rng, 0.05, 1.0))
    B, D = draws.sizes(rng, 2, 3, 6)
    x = draws.rows(rng, (B, D), scale=(0.1 * math.sqrt(eps), math.sqrt(eps)))
    x[0] = x[0].mean()                                           # a constant row: var = 0, r = 1/sqrt(eps)
    gamma, dy = rng.normal(0, 1, D), rng.normal(0, 1, (B, D))
    hint = tr(lang, f"Use the eps you are given (here {eps:.3g}, not 1e-5), added to the variance inside the "
                    "square root: r = 1/sqrt(var + eps), not 1/(sqrt(var) + eps).",
              f"Usa el eps que recibes (aquí {eps:.3g}, no 1e-5), sumado a la varianza dentro de la raíz: "
              "r = 1/sqrt(var + eps), no 1/(sqrt(var) + eps).")
    where, out, want, numeric = _ln_call(student, lang, x, gamma, dy, eps, hint)
    _ln_expect(out, want, numeric, ("dx", "dgamma"), lang, where, hint, eps)


@check("layernorm_backward.no_mutation", 1, "layernorm_backward leaves x, gamma and dy unchanged",
       "x, gamma and dy are left unchanged (and the results are about right)",
       "x, gamma y dy quedan intactos (y los resultados son aproximadamente correctos)")
def check_layernorm_backward_no_mutation(student, rng, lang):
    x, gamma, dy = _ln_case(rng, draws.sizes(rng, 2, 2, 5))
    where, out, want, numeric = _ln_call(student, lang, x, gamma, dy, watch=True)
    _ln_expect(out, want, numeric, ("dx", "dgamma", "dbeta"), lang, where, "", watch=True)


# ------------------------------------------------------------------------------------------------ attention

def _attn_where(Q, K, V, causal):
    return f"attention_backward(Q, K, V, dO{', causal=True' if causal else ''}), Q {Q.shape}, K {K.shape}, " \
           f"V {V.shape}"


def _attn_case(student, lang, Q, K, V, dO, causal=False, hint="", watch=False, at_K=None, tol=None):
    """Call the learner's attention_backward and compare dQ, dK and dV. ``at_K``: keys at which the forward is
    differenced instead of K, giving the same gradients (see draws.large_scores)."""
    where = _attn_where(Q, K, V, causal)
    raw = run(student, (Q, K, V, dO, causal), ("Q", "K", "V", "dO", None), lang, where, hint, watch,
              tr(lang, "Pitfall: `Q /= np.sqrt(d)` or a mask written into the scores' inputs changes the caller's "
                       "arrays; compute into new ones.",
                 "Error típico: `Q /= np.sqrt(d)`, o una máscara escrita en las entradas, cambia los arrays de "
                 "quien llama; calcula en arrays nuevos."))
    out = expect_sequence(raw, 3, lang, where, "the triple (dQ, dK, dV)", "la terna (dQ, dK, dV)")
    got = [learner_array(o, lang, f"{where}: {n}", strict=not watch)
           for o, n in zip(out, ("dQ", "dK", "dV"), strict=True)]
    want = ref.attention_backward(Q, K, V, dO, causal)
    Kd = K if at_K is None else at_K
    numeric = [_differences(lambda v: _total(dO * ref.attention(v, Kd, V, causal)), Q),
               _differences(lambda v: _total(dO * ref.attention(Q, v, V, causal)), Kd),
               _differences(lambda v: _total(dO * ref.attention(Q, Kd, v, causal)), V)]
    forward = f"sum(dO * attention(Q, K, V{', causal=True' if causal else ''}))"
    kw = {} if tol is None else {"atol": tol, "rtol": tol}
    for i, name in enumerate(("dQ", "dK", "dV")):
        expect_gradient(got[i], want[i], numeric[i], lang, f"{where}: {name}", hint, forward, loose=watch, **kw)


def _attn_inputs(rng, lead, tq, tk, d, dv):
    sq, sk = draws.log_uniform(rng, 0.5, 2.0, (2,))
    return (sq * rng.normal(0, 1, lead + (tq, d)), sk * rng.normal(0, 1, lead + (tk, d)),
            rng.normal(0, 1, lead + (tk, dv)), rng.normal(0, 1, lead + (tq, dv)))


def _attn_hint(lang):
    return tr(lang, "dV = P^T dO, dP = dO V^T, dS = P * (dP - sum(P * dP, axis=-1, keepdims=True)), then "
                    "dQ = dS K / sqrt(d) and dK = dS^T Q / sqrt(d).",
              "dV = P^T dO, dP = dO V^T, dS = P * (dP - sum(P * dP, axis=-1, keepdims=True)), y luego "
              "dQ = dS K / sqrt(d) y dK = dS^T Q / sqrt(d).")


@check("attention_backward.values", 2, "attention_backward, one head, Tq != Tk",
       "dQ, dK and dV of one head, (Tq, d) queries and (Tk, d) keys: the row-wise softmax VJP and the scale "
       "1/sqrt(d); confirmed by centred differences; float64",
       "dQ, dK y dV de una cabeza, consultas (Tq, d) y claves (Tk, d): el VJP de la softmax por filas y la escala "
       "1/sqrt(d); confirmado con diferencias centradas; en float64")
def check_attention_backward_values(student, rng, lang):
    tq, tk, d, dv = draws.sizes(rng, 4, 2, 6)
    shapes = [(tq, tk, d, dv), (tq, tk, d, dv), draws.sizes(rng, 4, 2, 6)]   # a repeated shape: a kept buffer
    for dims in shapes:
        _attn_case(student, lang, *_attn_inputs(rng, (), *dims), hint=_attn_hint(lang))


@check("attention_backward.batched", 2, "attention_backward, batch and head axes",
       "one to three leading batch/head axes: every transpose swaps the last two axes only",
       "de uno a tres ejes iniciales de lote y de cabezas: cada trasposición intercambia solo los dos últimos ejes")
def check_attention_backward_batched(student, rng, lang):
    hint = tr(lang, "Pitfall: on a batched array `.T` reverses every axis; use np.swapaxes(X, -1, -2).",
              "Error típico: en un array por lotes `.T` invierte todos los ejes; usa np.swapaxes(X, -1, -2).")
    for count in (1, 2, 3):
        tq, tk, d, dv = draws.sizes(rng, 4, 2, 5)
        lead = draws.leading_axes(rng, count, lo=2, hi=3 if count < 3 else 2)
        _attn_case(student, lang, *_attn_inputs(rng, lead, tq, tk, d, dv), hint=hint)


@check("attention_backward.causal", 2, "attention_backward, causal=True",
       "causal=True: position i attends to j <= i only, the mask (-inf) added to the scores before the softmax; "
       "with and without batch/head axes",
       "causal=True: la posición i solo atiende a j <= i, con la máscara (-inf) sumada a las puntuaciones antes de "
       "la softmax; con y sin ejes de lote y de cabezas")
def check_attention_backward_causal(student, rng, lang):
    hint = tr(lang, "With causal=True, put -inf in the scores where j > i, np.where(np.triu(..., k=1), -np.inf, S), "
                    "before the softmax (a 0/1 mask times -inf gives 0 * -inf = nan); the backward formulas are "
                    "unchanged.",
              "Con causal=True, pon -inf en las puntuaciones donde j > i, np.where(np.triu(..., k=1), -np.inf, S), "
              "antes de la softmax (una máscara de ceros y unos por -inf da 0 * -inf = nan); las fórmulas del paso "
              "hacia atrás no cambian.")
    for lead in ((), (), draws.leading_axes(rng, 2, lo=2, hi=3)):
        t, d, dv = draws.sizes(rng, 3, 3, 6)
        _attn_case(student, lang, *_attn_inputs(rng, lead, t, t, d, dv), causal=True, hint=hint)


@check("attention_backward.stability", 1, f"attention_backward, scores up to ±{BIG}",
       f"finite and correct for scores up to ±{BIG}, also with rows far apart in one head",
       f"finito y correcto con puntuaciones de hasta ±{BIG}, también con filas muy separadas en una misma cabeza")
def check_attention_backward_stability(student, rng, lang):
    hint = tr(lang, "Overflow: subtract each row's own maximum from the scores before exp; a maximum over a whole "
                    "head or array leaves the rows far below it at 0 / 0.",
              "Desbordamiento: resta a las puntuaciones el máximo de cada fila antes de exp; con un máximo de toda "
              "la cabeza o de todo el array, las filas que quedan muy por debajo dan 0 / 0.")
    for lead in ((), draws.leading_axes(rng, 1, lo=2, hi=3)):
        tq, tk, d, dv = draws.sizes(rng, 4, 2, 5)
        tq = max(tq, 3)
        Q, K, K0 = draws.large_scores(rng, lead + (tq, d), lead + (tk, d))
        V, dO = rng.normal(0, 1, lead + (tk, dv)), rng.normal(0, 1, lead + (tq, dv))
        _attn_case(student, lang, Q, K, V, dO, hint=hint, at_K=K0, tol=STABLE_TOL)


@check("attention_backward.no_mutation", 1, "attention_backward leaves Q, K, V and dO unchanged",
       "Q, K, V and dO are left unchanged (and the results are about right)",
       "Q, K, V y dO quedan intactos (y los resultados son aproximadamente correctos)")
def check_attention_backward_no_mutation(student, rng, lang):
    t, d, dv = draws.sizes(rng, 3, 2, 5)
    _attn_case(student, lang, *_attn_inputs(rng, (draws.size(rng, 2, 3),), t, t, d, dv), watch=True)
