"""The checks of lab 01: two-layer network."""
from __future__ import annotations

import numpy as np

from .. import draws, fd, reference as ref
from ...lang import tr
from ..compare import expect_sequence
from .core import check, expect_gradient, learner_array, run


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
