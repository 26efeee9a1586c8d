"""The checks of lab 04: the engine's backward."""
from __future__ import annotations

import numpy as np

from .. import draws, fd, reference as ref
from ...lang import tr
from ..compare import as_array, Fail, fmt
from .core import call, check, expect_gradient


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
