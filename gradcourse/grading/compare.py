"""Comparisons that fail with a message a learner can act on (input, entry, expected, got, hint)."""
from __future__ import annotations

import numpy as np


class Fail(Exception):
    """A check failed; the message is already in the notebook's language."""


def tr(lang, en, es):
    return es if lang == "es" else en


def fmt(a, digits=6):
    a = np.asarray(a)
    if a.ndim == 0:
        return f"{a.item() + 0.0:.{digits}g}" if np.issubdtype(a.dtype, np.number) else repr(a.item())
    s = np.array2string(a, precision=4, threshold=12, edgeitems=3, separator=", ", max_line_width=10**6)
    return " ".join(s.split())


def as_array(got, lang, where):
    if got is None:
        raise Fail(tr(lang, f"{where}: your function returned None (missing `return`?).",
                         f"{where}: tu función devolvió None (¿falta el `return`?)."))
    try:
        return np.asarray(got, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise Fail(tr(lang, f"{where}: the result is not a numeric array ({exc}).",
                         f"{where}: el resultado no es un array numérico ({exc}).")) from None


def expect_shape(got, shape, lang, where, hint=""):
    if np.shape(got) != tuple(shape):
        raise Fail(tr(lang, f"{where}: expected shape {tuple(shape)}, got {np.shape(got)}.",
                         f"{where}: se esperaba la forma {tuple(shape)} y se obtuvo {np.shape(got)}.")
                   + (" " + hint if hint else ""))


def expect_close(got, want, lang, where, hint="", atol=1e-9, rtol=1e-7, nonfinite_hint=None):
    """Shape, then finiteness, then values; names the worst entry."""
    got = as_array(got, lang, where)
    want = np.asarray(want, dtype=np.float64)
    expect_shape(got, want.shape, lang, where, hint)
    bad = ~np.isfinite(got)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise Fail(tr(lang, f"{where}: entry {idx} is {got[idx]} (expected {fmt(want[idx])}).",
                         f"{where}: la posición {idx} vale {got[idx]} (se esperaba {fmt(want[idx])}).")
                   + " " + (nonfinite_hint or hint))
    err = np.abs(got - want) - (atol + rtol * np.abs(want))
    if (err > 0).any():
        idx = np.unravel_index(int(np.argmax(err)), err.shape) if err.ndim else ()
        idx = tuple(int(i) for i in idx)
        digits = 6
        while fmt(want[idx], digits) == fmt(got[idx], digits) and digits < 17:
            digits += 3                     # show enough digits to see the difference
        w, g = fmt(want[idx], digits), fmt(got[idx], digits)
        raise Fail(tr(lang, f"{where}: entry {idx}: expected {w}, got {g}.",
                         f"{where}: posición {idx}: se esperaba {w} y se obtuvo {g}.")
                   + (" " + hint if hint else ""))
    return got
