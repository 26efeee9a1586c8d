"""The attention explorer: one head of scaled dot-product attention, read one query row at a time.

For ``O = softmax(Q Kᵀ / √d + M) V`` and an upstream gradient ``dO``, the reader picks a query row ``i`` and sees
its attention weights ``P[i]``, the score gradients ``dS[i]``, and what that row sends to every key and value:
``dS[i, j] · Q[i] / √d`` towards ``dK[j]`` and ``P[i, j] · dO[i]`` towards ``dV[j]``. The front end
(``static/widgets/attention.js``) recomputes all of it from ``q``, ``k``, ``v``, ``d_out`` and ``causal``, so it
works in the static book; the gradients computed here travel in the state as the answers the page must match.
"""

from __future__ import annotations

import numpy as np
import traitlets as t

from . import _CourseWidget, esm

MAX_TOKENS = 8  # a T x T table of weights must stay readable on a phone


def _matrix_trait():
    # One trait object per attribute: traitlets binds each instance to a single name.
    return t.List(t.List(t.Float())).tag(sync=True, book=True)


def attention_pieces(Q, K, V, dO, causal: bool = False) -> dict[str, np.ndarray]:
    """Every intermediate of one head's forward and backward pass (2-D arrays, float64).

    The scores are shifted by their row maximum before ``exp``; a masked score is ``-inf``, so its weight is
    exactly 0 and so is its score gradient."""
    Q, K, V, dO = (np.asarray(a, dtype=np.float64) for a in (Q, K, V, dO))
    scale = 1.0 / np.sqrt(Q.shape[-1])
    S = Q @ K.T * scale
    if causal:
        S = np.where(np.triu(np.ones(S.shape, dtype=bool), k=1), -np.inf, S)
    E = np.exp(S - S.max(axis=-1, keepdims=True))
    P = E / E.sum(axis=-1, keepdims=True)
    dP = dO @ V.T
    dS = P * (dP - np.sum(P * dP, axis=-1, keepdims=True))
    return {"S": S, "P": P, "O": P @ V, "dP": dP, "dS": dS,
            "dQ": dS @ K * scale, "dK": dS.T @ Q * scale, "dV": P.T @ dO}


def _matrix(name: str, value) -> np.ndarray:
    array = np.asarray(value, dtype=np.float64)
    if array.ndim != 2 or 0 in array.shape or not np.all(np.isfinite(array)):
        raise ValueError(f"{name} must be a finite 2-D array (one head), not of shape {array.shape}")
    return array


class AttentionExplorer(_CourseWidget):
    """Pick a query row of a small attention head; see its weights and the gradient it sends to each key and value.

    ``Q (Tq, d)``, ``K (Tk, d)``, ``V (Tk, dv)`` and ``dO (Tq, dv)`` describe one head (at most 8 tokens on each
    side); ``causal=True`` needs ``Tq == Tk``. ``backward``, if given, is the chapter's own
    ``attention_backward(Q, K, V, dO, causal=...) -> (dQ, dK, dV)``: the widget refuses to show a page whose
    function disagrees with its reference, so that the page and the widget teach the same numbers.
    """

    _module = "attention"
    _esm = esm("attention")

    q = _matrix_trait()
    k = _matrix_trait()
    v = _matrix_trait()
    d_out = _matrix_trait()
    causal = t.Bool(False).tag(sync=True, book=True)
    row = t.Int(0).tag(sync=True, book=True)
    # Computed here for the current inputs and mask (the front end computes its own as the reader changes them).
    weights = _matrix_trait()
    d_scores = _matrix_trait()
    dq = _matrix_trait()
    dk = _matrix_trait()
    dv = _matrix_trait()

    def __init__(self, Q, K, V, dO, causal: bool = False, row: int = 0, backward=None, **kwargs):
        Q, K, V, dO = _matrix("Q", Q), _matrix("K", K), _matrix("V", V), _matrix("dO", dO)
        (tq, d), (tk, dk), (tv, dv), (to, dvo) = Q.shape, K.shape, V.shape, dO.shape
        if dk != d or tv != tk or to != tq or dvo != dv:
            raise ValueError(f"shapes do not fit Q (Tq, d), K (Tk, d), V (Tk, dv), dO (Tq, dv): Q {Q.shape}, "
                             f"K {K.shape}, V {V.shape}, dO {dO.shape}")
        if max(tq, tk) > MAX_TOKENS:
            raise ValueError(f"at most {MAX_TOKENS} queries and keys, not {tq} and {tk}")
        if causal and tq != tk:
            raise ValueError(f"a causal mask needs Tq == Tk, not {tq} and {tk}")
        if not 0 <= row < tq:
            raise ValueError(f"row must be a query index in [0, {tq}), not {row}")
        self._backward = backward
        super().__init__(q=Q.tolist(), k=K.tolist(), v=V.tolist(), d_out=dO.tolist(), causal=bool(causal), row=row,
                         **kwargs)
        self._update()

    @t.validate("causal")
    def _causal_needs_square(self, proposal):
        if proposal["value"] and self.q and len(self.q) != len(self.k):
            raise t.TraitError(f"a causal mask needs Tq == Tk, not {len(self.q)} and {len(self.k)}")
        return proposal["value"]

    @t.validate("row")
    def _row_in_range(self, proposal):
        if self.q and not 0 <= proposal["value"] < len(self.q):
            raise t.TraitError(f"row must be a query index in [0, {len(self.q)}), not {proposal['value']}")
        return proposal["value"]

    def pieces(self) -> dict[str, np.ndarray]:
        return attention_pieces(self.q, self.k, self.v, self.d_out, self.causal)

    @t.observe("q", "k", "v", "d_out", "causal")
    def _update(self, change=None) -> None:
        if not (self.q and self.k and self.v and self.d_out):
            return  # still being constructed
        pieces = self.pieces()
        if self._backward is not None:
            arrays = [np.asarray(a, dtype=np.float64) for a in (self.q, self.k, self.v, self.d_out)]
            theirs = self._backward(*arrays, causal=self.causal)
            for name, got in zip(("dQ", "dK", "dV"), theirs):
                want = pieces[name]
                if np.shape(got) != want.shape or not np.allclose(got, want, rtol=1e-9, atol=1e-12):
                    raise ValueError(f"the given backward's {name} disagrees with the reference: "
                                     f"{np.asarray(got).tolist()} instead of {want.tolist()}")
        self.weights = pieces["P"].tolist()
        self.d_scores = pieces["dS"].tolist()
        self.dq, self.dk, self.dv = (pieces[n].tolist() for n in ("dQ", "dK", "dV"))

    def row_shares(self, i: int | None = None) -> dict[str, np.ndarray]:
        """What query row ``i`` (default: the current row) sends to each key and value, as the front end shows it:
        ``to_dk[j] = dS[i, j] Q[i] / √d`` and ``to_dv[j] = P[i, j] dO[i]``. Summed over the rows they are dK and
        dV."""
        i = self.row if i is None else i
        p = self.pieces()
        Q, dO = np.asarray(self.q), np.asarray(self.d_out)
        scale = 1.0 / np.sqrt(Q.shape[1])
        return {"p": p["P"][i], "dp": p["dP"][i], "ds": p["dS"][i], "dq": p["dQ"][i],
                "to_dk": np.outer(p["dS"][i], Q[i]) * scale, "to_dv": np.outer(p["P"][i], dO[i])}
