"""The inputs of the checks, drawn from a check's seed (the public one, or a student's hidden one).

Nothing a learner's function sees while graded is a fixed list: sizes, shapes, broadcast patterns, scales and
offsets come from distributions wide enough that code right only on the examples printed in the lab fails on
someone's hidden draw. Logits get a scale and an offset per row, so that one batch mixes rows at very different
scales; the stability draws put rows near +1e4 and -1e4 in the same batch, so that a plain ``exp`` overflows and a
maximum taken over the whole array instead of per row underflows whole rows. Broadcast targets lose leading axes
and get size-1 axes (down to the 0-d shape ``()``).
"""
from __future__ import annotations

import numpy as np

LARGE_LOGIT = 1e4   # the contracts promise finite, correct results for logits up to ±LARGE_LOGIT


def size(rng, lo: int, hi: int) -> int:
    """An integer in [lo, hi]."""
    return int(rng.integers(lo, hi + 1))


def sizes(rng, k: int, lo: int, hi: int, distinct: bool = True) -> tuple:
    """k sizes in [lo, hi]; distinct when possible, so that a transposed or swapped result has the wrong shape."""
    if distinct and hi - lo + 1 >= k:
        return tuple(int(s) for s in rng.choice(np.arange(lo, hi + 1), size=k, replace=False))
    return tuple(size(rng, lo, hi) for _ in range(k))


def log_uniform(rng, lo: float, hi: float, shape=()):
    return 10.0 ** rng.uniform(np.log10(lo), np.log10(hi), shape)


def logits(rng, shape, scale=(0.3, 8.0), offset=20.0):
    """Logits whose rows (last axis) each have their own scale (log-uniform) and offset (uniform in ±offset)."""
    shape = tuple(shape)
    rows = shape[:-1] + (1,)
    return rng.uniform(-offset, offset, rows) + log_uniform(rng, *scale, rows) * rng.standard_normal(shape)


def integer_logits(rng, shape):
    """Integer logits: integers are logits too, and the result must still be float64."""
    return rng.integers(-6, 7, tuple(shape))


def huge_logits(rng, shape, big=LARGE_LOGIT):
    """Rows centred between 0.3 big and big away from 0, of either sign (the first two rows of a batch at opposite
    signs), each with a spread of a few units so that several of its probabilities are neither 0 nor 1; clipped
    to ±big."""
    shape = tuple(shape)
    rows = shape[:-1] + (1,)
    centre = rng.uniform(0.3 * big, big, rows) * rng.choice([-1.0, 1.0], rows)
    flat = centre.reshape(-1)
    if flat.size >= 2:
        flat[0], flat[1] = abs(flat[0]), -abs(flat[1])
    spread = log_uniform(rng, 0.5, 5.0, rows)
    z = centre + spread * rng.standard_normal(shape)
    top = z.max(axis=-1, keepdims=True)
    z = np.where(top > big, z - (top - big), z)           # keep every entry within ±big, rows intact
    bottom = z.min(axis=-1, keepdims=True)
    return np.where(bottom < -big, z - (bottom + big), z)


def labels(rng, batch: int, classes: int, dtype=np.int64):
    return rng.integers(0, classes, batch).astype(dtype)


def away_from_zero(rng, shape, low=0.5, high=1.5):
    """Entries whose magnitude is in [low, high], random signs (no relu kink within a finite-difference step)."""
    return rng.uniform(low, high, shape) * rng.choice([-1.0, 1.0], shape)


def broadcast_case(rng, kind: str, max_ndim: int = 5, max_size: int = 4, extra: int | None = None):
    """(target shape, broadcast shape) for unbroadcast.

    ``kind="leading"``: the broadcast only prepends axes (at least one); no axis of the target is stretched.
    ``kind="ones"``: the target has at least one size-1 axis that the broadcast stretched, and at most one
    prepended axis. Sizes of the broadcast shape are 1 to ``max_size`` (size-1 axes that stay size 1 included).
    ``extra`` fixes the number of prepended axes.
    """
    while True:
        ndim = size(rng, 1, max_ndim) if extra is None else size(rng, extra + 1, max(max_ndim, extra + 1))
        full = tuple(size(rng, 1, max_size) if rng.random() < 0.2 else size(rng, 2, max_size) for _ in range(ndim))
        prepend = extra if extra is not None else size(rng, 1, ndim) if kind == "leading" else \
            size(rng, 0, min(1, ndim - 1))
        target = list(full[prepend:])
        if kind == "ones":
            for i, n in enumerate(target):
                if n > 1 and rng.random() < 0.5:
                    target[i] = 1
        target = tuple(target)
        stretched = any(t == 1 and f != 1 for t, f in zip(target, full[prepend:]))
        if (kind == "leading") != stretched:
            return target, full


def batch_pair(rng, kind: str):
    """Batch axes of A and B for a batched matmul, in random order of the two operands.

    ``same``: equal batch axes (1 or 2 of them). ``missing``: one operand lacks a leading batch axis that the
    other has (and keeps at least one batch axis of its own, or none at all). ``ones``: a size-1 batch axis on one
    side faces a larger one on the other.
    """
    full = tuple(size(rng, 2, 3) for _ in range(size(rng, 1, 2)))
    if kind == "same":
        return full, full
    if kind == "missing":
        full = (size(rng, 2, 3),) + full
        short = full[size(rng, 1, len(full) - 1):] if rng.random() < 0.7 else ()
        pair = (full, short)
    else:
        ones = list(full)
        ones[size(rng, 0, len(full) - 1)] = 1
        other = full if rng.random() < 0.5 else tuple(1 if o != 1 and rng.random() < 0.3 else n
                                                       for o, n in zip(ones, full))
        pair = (tuple(ones), other)
    return pair if rng.random() < 0.5 else pair[::-1]


def axes(rng, ndim: int):
    """A reduction axis as a learner may get it: an int (maybe negative) or a tuple of ints (maybe negative)."""
    count = size(rng, 1, ndim)
    chosen = sorted(int(a) for a in rng.choice(ndim, size=count, replace=False))
    signed = [a - ndim if rng.random() < 0.4 else a for a in chosen]
    if count == 1 and rng.random() < 0.7:
        return signed[0]
    return tuple(signed)


def index(rng, shape, repeated: bool):
    """An index NumPy accepts in ``a[index]``, with its text. ``repeated``: integer arrays with at least one
    repeated position; otherwise slices (with steps, negative bounds) and single integers."""
    ndim = len(shape)
    if repeated:
        if ndim == 1 or rng.random() < 0.5:
            n = shape[0]
            k = size(rng, 2, 6)
            rows = rng.integers(-n, n, k)
            rows[size(rng, 1, k - 1)] = rows[0] % n - (n if rng.random() < 0.5 else 0)   # same position again
            return rows, f"{rows.tolist()}"
        k = size(rng, 2, 5)
        rows, cols = rng.integers(0, shape[0], k), rng.integers(0, shape[1], k)
        rows[-1], cols[-1] = rows[0], cols[0]
        return (rows, cols), f"({rows.tolist()}, {cols.tolist()})"
    parts, texts = [], []
    for n in shape[:size(rng, 1, ndim)]:
        if rng.random() < 0.3:
            i = size(rng, -n, n - 1)
            parts.append(i)
            texts.append(str(i))
            continue
        step = int(rng.choice([1, 1, 2, 3, -1, -2]))
        start = size(rng, -n, n - 1)
        stop = size(rng, -n, n) if step > 0 else None
        part = slice(start, stop, step)
        if len(range(*part.indices(n))) == 0:
            part = slice(None, None, step)
        parts.append(part)
        texts.append(":".join("" if v is None else str(v) for v in (part.start, part.stop, part.step)))
    return tuple(parts), "[" + ", ".join(texts) + "]"


# --- lab 05: layer norm and attention ---------------------------------------------------------

def rows(rng, shape, scale=(0.5, 3.0), offset=5.0):
    """Rows (last axis, at least 2 entries) with an exact standard deviation each, log-uniform in ``scale``, and an
    offset each, uniform in ±offset. The spread is exact so that layer norm's 1/sqrt(var + eps) stays below
    1/scale[0] on every draw, and with it the derivatives that bound the centred differences' error (fd.BOUND_M)."""
    shape = tuple(shape)
    z = rng.standard_normal(shape)
    z = z - z.mean(axis=-1, keepdims=True)
    z = z / z.std(axis=-1, keepdims=True)
    lead = shape[:-1] + (1,)
    return rng.uniform(-offset, offset, lead) + log_uniform(rng, *scale, lead) * z


def leading_axes(rng, count: int, avoid=(), lo: int = 2, hi: int = 4) -> tuple:
    """``count`` leading axis sizes in [lo, hi], none of them in ``avoid`` (the feature or sequence sizes): a result
    summed over the wrong axis then has the wrong shape instead of the right shape by chance."""
    choices = [n for n in range(lo, hi + 1) if n not in avoid] or [hi + 1]
    return tuple(int(rng.choice(choices)) for _ in range(count))


def large_scores(rng, q_shape, k_shape, big=LARGE_LOGIT):
    """Queries and keys whose scores Q K^T / sqrt(d) sit, row by row, between 0.3 big and big away from 0 (either
    sign; in every head the first two query rows at opposite signs), with a spread of a few units within a row.

    Returns (Q, K, K0). Every query has a component b_i u and every key of K is K0's plus t u, for one unit vector u
    orthogonal to the rest of both (b_i small, t large: see below): the scores of
    (Q, K) and of (Q, K0) differ by one constant per row, b_i t / sqrt(d). Same softmax, hence the same dQ, dK and
    dV (the rows of dS sum to zero). (Q, K0) has moderate scores, where centred differences are accurate; (Q, K) is
    where a softmax without each row's own maximum overflows, or, with one maximum for a whole head, underflows to
    0 / 0."""
    d = q_shape[-1]
    u = rng.standard_normal(d)
    u /= np.linalg.norm(u)
    Q0, K0 = rng.standard_normal(q_shape), rng.standard_normal(k_shape)
    Q0, K0 = Q0 - (Q0 @ u)[..., None] * u, K0 - (K0 @ u)[..., None] * u
    rows_shape = tuple(q_shape[:-1])
    offset = rng.uniform(0.3 * big, big, rows_shape) * rng.choice([-1.0, 1.0], rows_shape)
    if q_shape[-2] >= 2:
        offset[..., 0], offset[..., 1] = np.abs(offset[..., 0]), -np.abs(offset[..., 1])
    # The queries' share stays small (b_i up to big ** 0.25) and the keys' large (t = big ** 0.75 sqrt(d)): dK is
    # differenced at K0 with these queries, and the error of centred differences grows with the cube of b_i
    # (b_i of size sqrt(big) put it near 1e-6 for one student in sixteen, above the tolerance).
    scale = big ** 0.75
    Q = Q0 + (offset / scale)[..., None] * u          # <Q_i, scale sqrt(d) u> / sqrt(d) = offset_i
    return Q, K0 + scale * np.sqrt(d) * u, K0
